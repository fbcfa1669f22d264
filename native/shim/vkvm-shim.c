/*
 * vkvm LD_PRELOAD shim: makes /dev/kvm inside an unmodified program the virtual one of a vkvm
 * server (src/server) reached over a Unix socket named by $VKVM_SOCKET. Without that variable
 * every call goes straight to libc.
 *
 * What is intercepted, and only for the fds the shim owns (KVM files of the server):
 *  - open/openat of /dev/kvm (and of the kvm module parameter files, answered by the server);
 *  - ioctl: forwarded as (kernel fd, request, arg pointer) plus the _IOC_SIZE bytes at arg. The
 *    server's kernel dereferences user pointers as Linux does; what it reaches beyond those bytes
 *    it asks for (VKVM_OP_CB_READ, i.e. copy_from_user over the socket) and what it wrote comes
 *    back as records (copy_to_user), so no ioctl needs a special case here;
 *  - close, dup/dup2/dup3, fcntl(F_DUPFD*): the fd table (process fd -> kernel fd) shared with
 *    the server, so it can translate fd numbers inside structs;
 *  - read/write on KVM fds (EINVAL, as KVM's files have no read/write);
 *  - munmap/mmap(MAP_FIXED) over memory that was shared with the server.
 * Guest memory is shared, not copied: when the server sees a memslot it asks the shim to put the
 * range on a memfd in place (same address, contents kept) and maps that memfd itself. A vCPU fd is
 * the memfd of its mmap area (kvm_run), so mmap(vcpu_fd) is a plain shared mapping.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ioctl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "vkvm-proto.h"
/* Surplus fds a message brings are closed past this shim's own close(). */
#define VKVM_WIRE_CLOSE(fd) syscall(SYS_close, fd)
#include "vkvm-wire.h"

#define EXPORT __attribute__((visibility("default")))
#define PAGE 4096ul
/* Internal fds (sockets, memfds) live at or above this number, out of the program's way. */
#define HIGH_FD 200

#ifdef __aarch64__
#define SHIM_ARCH VKVM_ARCH_ARM64
#else
#define SHIM_ARCH VKVM_ARCH_X86_64
#endif

/* ---- libc ---- */

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_ioctl)(int, unsigned long, ...);
static int (*real_close)(int);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_fcntl)(int, int, ...);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_munmap)(void *, size_t);
static int (*real_mprotect)(void *, size_t, int);
static void *(*real_mremap)(void *, size_t, size_t, int, ...);

static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;
static const char *sock_path; /* NULL: inert */

static void resolve(void)
{
	real_open = dlsym(RTLD_NEXT, "open");
	real_openat = dlsym(RTLD_NEXT, "openat");
	real_ioctl = dlsym(RTLD_NEXT, "ioctl");
	real_close = dlsym(RTLD_NEXT, "close");
	real_dup = dlsym(RTLD_NEXT, "dup");
	real_dup2 = dlsym(RTLD_NEXT, "dup2");
	real_dup3 = dlsym(RTLD_NEXT, "dup3");
	real_fcntl = dlsym(RTLD_NEXT, "fcntl");
	real_read = dlsym(RTLD_NEXT, "read");
	real_write = dlsym(RTLD_NEXT, "write");
	real_mmap = dlsym(RTLD_NEXT, "mmap");
	real_munmap = dlsym(RTLD_NEXT, "munmap");
	real_mprotect = dlsym(RTLD_NEXT, "mprotect");
	real_mremap = dlsym(RTLD_NEXT, "mremap");
	const char *s = getenv("VKVM_SOCKET");
	sock_path = s && *s ? s : NULL;
}

#define R() pthread_once(&resolve_once, resolve)

static void die(const char *what)
{
	char buf[256];
	int n = snprintf(buf, sizeof buf, "vkvm-shim: %s: %s\n", what, strerror(errno));
	if (n > 0) real_write(2, buf, (size_t)n);
	_exit(125);
}

/* ---- process state: fd table, connections, shared memory ---- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t proc_pid;          /* pid the state below belongs to; 0 = not set up */
static unsigned proc_gen;       /* bumped at every setup (fork): thread connections reconnect */
static int32_t *fdtab;          /* shared with the server: process fd -> kernel fd + 1 */
static int fdtab_fd = -1;
static uint16_t *kref;          /* process fds per kernel fd (dup counts) */
static int anchor_fd = -1;
static pid_t parent_pid;        /* set in a forked child until its anchor said so */

/* Every connection fd, so a forked child can close the parent's. */
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static int conns[1024];
static int nconns;

/*
 * Memory shared with the server: a range of the program's address space that maps one file
 * contiguously (a memfd the shim moved private memory onto, or the program's own shared file
 * mapping). `fd` is the shim's own reference to that file.
 */
struct region {
	uint64_t addr, len, off;
	int fd;
	uint64_t dev, ino;
};
static struct region *regions;
static int nregions, capregions;
/* The address-space memfd private memory moves onto (see as_file). */
static int asfd = -1;

/*
 * The private anonymous mappings the program made through mmap (with their protections), so
 * sharing a memslot needs no /proc/self/maps read: under qemu-user that read costs ~100 ms with a
 * few thousand mappings. Mappings made elsewhere (libc's malloc) are not here; sharing those
 * reads the maps file.
 */
struct anon {
	uint64_t addr, len;
	int prot;
};
static struct anon *anons;
static int nanons, capanons;
static pthread_mutex_t anon_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Per vCPU (by kernel fd): what KVM_RUN needs to behave like Linux when a signal arrives. The
 * server runs the guest; the shim, waiting for the reply, notices the signal and sets
 * kvm_run.immediate_exit in its own mapping of the vCPU's area, which stops the vCPU within a
 * few thousand instructions (KVM_RUN then returns EINTR with KVM_EXIT_INTR).
 */
struct vcpu_sig {
	struct kvm_run *run; /* the shim's own mapping of the vCPU's kvm_run */
	int has_mask;             /* KVM_SET_SIGNAL_MASK was given */
	sigset_t mask;            /* the signal mask while in KVM_RUN */
};
static struct vcpu_sig *vsig;
static int nvsig;

static __thread int t_conn = -1;
static __thread unsigned t_gen;
static __thread uint8_t *t_buf;
static __thread size_t t_cap;
static pthread_key_t conn_key;

static int owned(int fd)
{
	if (!fdtab || fd < 0 || (unsigned)fd >= VKVM_FDTAB_ENTRIES) return -1;
	return fdtab[fd] - 1;
}

static int high_fd(int fd)
{
	if (fd < 0 || fd >= HIGH_FD) return fd;
	int h = real_fcntl(fd, F_DUPFD_CLOEXEC, HIGH_FD);
	if (h < 0) return fd;
	real_close(fd);
	return h;
}

static uint8_t *tbuf(size_t n)
{
	if (n > t_cap) {
		size_t c = t_cap ? t_cap : 65536;
		while (c < n) c *= 2;
		uint8_t *b = realloc(t_buf, c);
		if (!b) die("out of memory");
		t_buf = b;
		t_cap = c;
	}
	return t_buf;
}

static int send_all(int s, const struct vkvm_hdr *h, const void *payload, size_t plen, int fd)
{
	return vkvm_send(s, h, payload, plen, fd) < 0 ? -1 : 0;
}

/* Receives one message: the header (with up to VKVM_MAX_FDS_PER_MSG fds) and its payload in t_buf. */
static int recv_msg(int s, struct vkvm_hdr *h, int *fds, int *nfds)
{
	int n = vkvm_recv_hdr(s, h, fds);
	if (n < 0) return -1;
	*nfds = n;
	return vkvm_recv_all(s, tbuf(h->len), h->len) < 0 ? -1 : 0;
}

static int connect_server(void)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) die("socket");
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(sock_path) >= sizeof a.sun_path) {
		errno = ENAMETOOLONG;
		die("VKVM_SOCKET");
	}
	strcpy(a.sun_path, sock_path);
	while (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
		if (errno == EINTR) continue;
		die("connect to the vkvm server");
	}
	s = high_fd(s);
	pthread_mutex_lock(&conns_lock);
	if (nconns < (int)(sizeof conns / sizeof conns[0])) conns[nconns++] = s;
	pthread_mutex_unlock(&conns_lock);
	return s;
}

/* Sends HELLO on a fresh connection and waits for its reply. */
static void hello(int s, uint64_t flags, int fd)
{
	struct vkvm_hdr h = {.op = VKVM_OP_HELLO, .a = {(uint64_t)getpid(), VKVM_PROTO_VERSION, SHIM_ARCH, flags}};
	uint64_t parent = parent_pid;
	if (flags & VKVM_HELLO_FORKED) h.len = sizeof parent;
	if (send_all(s, &h, &parent, h.len, fd) < 0) die("hello");
	int fds[VKVM_MAX_FDS_PER_MSG], nfds;
	if (recv_msg(s, &h, fds, &nfds) < 0) die("hello");
	if (h.ret < 0) {
		errno = (int)-h.ret;
		die("the vkvm server refused this program");
	}
}

static void conn_destructor(void *p)
{
	(void)p;
	if (t_conn >= 0) {
		pthread_mutex_lock(&conns_lock);
		for (int i = 0; i < nconns; i++)
			if (conns[i] == t_conn) conns[i] = conns[--nconns];
		pthread_mutex_unlock(&conns_lock);
		real_close(t_conn);
		t_conn = -1;
	}
}

static void atfork_child(void)
{
	/* The parent's connections are not ours: drop them; the next call sets up this process. */
	for (int i = 0; i < nconns; i++) real_close(conns[i]);
	nconns = 0;
	anchor_fd = -1;
	if (proc_pid) parent_pid = proc_pid;
	proc_pid = 0;
	/* The parent's moves live in its file (still mapped here, shared with it); this process moves
	   memory into a file of its own from now on. */
	asfd = -1;
	pthread_mutex_init(&lock, NULL);
	pthread_mutex_init(&conns_lock, NULL);
}

/* Sets up this process's state (first use, or first use after fork). Called with `lock` held. */
static void setup_process(void)
{
	if (proc_pid == getpid()) return;
	int forked = fdtab != NULL;
	int fd = (int)syscall(SYS_memfd_create, "vkvm-fdtab", MFD_CLOEXEC);
	if (fd < 0) die("memfd_create");
	fd = high_fd(fd);
	size_t sz = VKVM_FDTAB_ENTRIES * sizeof(int32_t);
	if (ftruncate(fd, (off_t)sz) < 0) die("ftruncate");
	int32_t *t = real_mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (t == MAP_FAILED) die("mmap");
	if (forked) {
		/* A child inherits its parent's fds: a private copy of the table (only the used part). */
		for (unsigned i = 0; i < VKVM_FDTAB_ENTRIES; i++)
			if (fdtab[i]) t[i] = fdtab[i];
		real_munmap(fdtab, sz);
		real_close(fdtab_fd);
	} else {
		kref = calloc(VKVM_FDTAB_ENTRIES, sizeof *kref);
		if (!kref) die("out of memory");
		pthread_key_create(&conn_key, conn_destructor);
		pthread_atfork(NULL, NULL, atfork_child);
	}
	fdtab = t;
	fdtab_fd = fd;
	anchor_fd = connect_server();
	hello(anchor_fd, VKVM_HELLO_ANCHOR | (forked ? VKVM_HELLO_FORKED : 0), fdtab_fd);
	parent_pid = 0;
	proc_pid = getpid();
	proc_gen++;
}

/* This thread's connection. */
static int conn(void)
{
	if (t_conn >= 0 && t_gen == proc_gen && proc_pid == getpid()) return t_conn;
	pthread_mutex_lock(&lock);
	setup_process();
	unsigned gen = proc_gen;
	pthread_mutex_unlock(&lock);
	t_conn = connect_server();
	t_gen = gen;
	hello(t_conn, 0, -1);
	pthread_setspecific(conn_key, &t_conn);
	return t_conn;
}

static int64_t call_run(struct vkvm_hdr *req, const void *payload, int sendfd, uint32_t *flags, int newfd_cloexec, int run_kfd);
#define call(req, payload, sendfd, flags, cloexec) call_run(req, payload, sendfd, flags, cloexec, -1)

/* ---- the process's memory, as the kernel's copy_from_user/copy_to_user reach it ---- */

static int mapped(uint64_t addr, size_t len)
{
	uint64_t lo = addr & ~(PAGE - 1), hi = (addr + len + PAGE - 1) & ~(PAGE - 1);
	unsigned char v[64];
	for (uint64_t p = lo; p < hi; p += 64 * PAGE) {
		size_t n = hi - p < 64 * PAGE ? hi - p : 64 * PAGE;
		if (mincore((void *)p, n, v) < 0) return 0;
	}
	return 1;
}

static int mem_read(void *dst, uint64_t addr, size_t len)
{
	if (!len) return 0;
	if (addr + len < addr) return -EFAULT;
	struct iovec l = {dst, len}, r = {(void *)addr, len};
	ssize_t n = process_vm_readv(getpid(), &l, 1, &r, 1, 0);
	if (n == (ssize_t)len) return 0;
	if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
		/* qemu-user and some sandboxes: check the pages are mapped, then copy. */
		if (!mapped(addr, len)) return -EFAULT;
		memcpy(dst, (void *)addr, len);
		return 0;
	}
	return -EFAULT;
}

static int mem_write(uint64_t addr, const void *src, size_t len)
{
	if (!len) return 0;
	struct iovec l = {(void *)src, len}, r = {(void *)addr, len};
	ssize_t n = process_vm_writev(getpid(), &l, 1, &r, 1, 0);
	if (n == (ssize_t)len) return 0;
	if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
		if (!mapped(addr, len)) return -EFAULT;
		memcpy((void *)addr, src, len);
		return 0;
	}
	return -EFAULT;
}

/* ---- the program's own anonymous mappings ---- */

static void anon_add(uint64_t addr, uint64_t len, int prot)
{
	if (nanons == capanons) {
		int c = capanons ? 2 * capanons : 64;
		struct anon *a = realloc(anons, (size_t)c * sizeof *a);
		if (!a) return;
		anons = a;
		capanons = c;
	}
	anons[nanons++] = (struct anon){addr, len, prot};
}

/* [addr, addr+len) is no longer what the table says: cut it out (records outside stay). */
static void anon_cut(uint64_t addr, uint64_t len)
{
	uint64_t end = addr + len;
	for (int i = 0; i < nanons;) {
		struct anon a = anons[i];
		if (!(a.addr < end && addr < a.addr + a.len)) {
			i++;
			continue;
		}
		anons[i] = anons[--nanons];
		if (a.addr < addr) anon_add(a.addr, addr - a.addr, a.prot);
		if (end < a.addr + a.len) anon_add(end, a.addr + a.len - end, a.prot);
	}
}

/* The record holding `addr`, or NULL. */
static struct anon *anon_at(uint64_t addr)
{
	for (int i = 0; i < nanons; i++)
		if (anons[i].addr <= addr && addr < anons[i].addr + anons[i].len) return &anons[i];
	return NULL;
}

/*
 * The program's own private anonymous memory around [addr, addr+len), from the table: fills `v`
 * (as vmas_in would, in address order) with the contiguous records from the one holding `addr`
 * through the one holding addr+len-1 and their neighbours. Returns the count, 0 if the table does
 * not cover the range.
 */
struct vma;
static int anon_vmas(uint64_t addr, uint64_t len, struct vma *v, int max);

/* ---- sharing memslot memory (VKVM_OP_CB_SHARE) ---- */

struct vma {
	uint64_t start, end, off, dev, ino;
	char perms[5];
	int special; /* [heap], [stack], [vdso]...: never moved beyond the range asked */
};

static int anon_vmas(uint64_t addr, uint64_t len, struct vma *v, int max)
{
	int n = 0;
	pthread_mutex_lock(&anon_lock);
	/* Extend down and up through touching records, so the whole mapping moves at once. */
	uint64_t lo = addr, hi = addr + len;
	for (struct anon *a; (a = anon_at(lo - 1)) && lo > 0;) lo = a->addr;
	for (struct anon *a; (a = anon_at(hi));) hi = a->addr + a->len;
	for (uint64_t at = lo; at < hi;) {
		struct anon *a = anon_at(at);
		if (!a || n == max) {
			n = 0; /* a hole, or too many pieces: not covered */
			break;
		}
		uint64_t e = a->addr + a->len;
		v[n] = (struct vma){at, e, 0, 0, 0, {a->prot & PROT_READ ? 'r' : '-', a->prot & PROT_WRITE ? 'w' : '-', a->prot & PROT_EXEC ? 'x' : '-', 'p', 0}, 0};
		n++;
		at = e;
	}
	pthread_mutex_unlock(&anon_lock);
	/* Still mapped? (The table does not see libc's own munmap calls.) */
	if (n && !mapped(lo, hi - lo)) n = 0;
	return n;
}

/* The mappings of /proc/self/maps that intersect [lo, hi). Returns the count, or -errno. */
static int vmas_in(uint64_t lo, uint64_t hi, struct vma *out, int max)
{
	int fd = real_open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0) return -errno;
	size_t cap = 1 << 16, len = 0;
	char *b = malloc(cap + 1);
	if (!b) {
		real_close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (len == cap) {
			char *nb = realloc(b, 2 * cap + 1);
			if (!nb) {
				free(b);
				real_close(fd);
				return -ENOMEM;
			}
			b = nb;
			cap *= 2;
		}
		ssize_t n = real_read(fd, b + len, cap - len);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) break;
		len += (size_t)n;
	}
	real_close(fd);
	b[len] = 0;
	int k = 0;
	for (char *line = b; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl) *nl = 0;
		unsigned long long s, e, off, ino;
		unsigned maj, min;
		char perms[5];
		int at = 0;
		if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &s, &e, perms, &off, &maj, &min, &ino, &at) == 7 && e > lo && s < hi) {
			if (k == max) {
				k = -E2BIG;
				break;
			}
			out[k] = (struct vma){s, e, off, makedev(maj, min), ino, {0}, line[at] == '['};
			memcpy(out[k].perms, perms, 5);
			k++;
		}
		line = nl ? nl + 1 : NULL;
	}
	free(b);
	return k;
}

/* A new reference (high, close-on-exec) to an fd of this process open on (dev, ino). */
static int fd_of_file(uint64_t dev, uint64_t ino)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d) return -1;
	int found = -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		struct stat st;
		if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d)) continue;
		if (fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino) {
			found = real_fcntl(fd, F_DUPFD_CLOEXEC, HIGH_FD);
			break;
		}
	}
	closedir(d);
	return found;
}

static int prot_of(const char *perms)
{
	return (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) | (perms[2] == 'x' ? PROT_EXEC : 0);
}

static struct region *add_region(struct region r)
{
	/* A region that continues another (same file, contiguous offsets) joins it. */
	for (int i = 0; i < nregions; i++) {
		struct region *o = &regions[i];
		if (o->dev != r.dev || o->ino != r.ino || o->off - o->addr != r.off - r.addr) continue;
		if (o->addr + o->len == r.addr || r.addr + r.len == o->addr) {
			if (r.addr < o->addr) o->off = r.off, o->addr = r.addr;
			o->len += r.len;
			real_close(r.fd);
			/* It may now touch a third one. */
			struct region m = *o;
			regions[i] = regions[--nregions];
			return add_region(m);
		}
	}
	if (nregions == capregions) {
		capregions = capregions ? 2 * capregions : 16;
		regions = realloc(regions, (size_t)capregions * sizeof *regions);
		if (!regions) die("out of memory");
	}
	regions[nregions] = r;
	return &regions[nregions++];
}

/* Copies the resident pages of [addr, addr+len) to `dst` (pages never touched are zero anyway). */
static void copy_resident(uint8_t *dst, uint64_t addr, uint64_t len)
{
	unsigned char vec[256];
	for (uint64_t p = addr; p < addr + len;) {
		uint64_t chunk = addr + len - p < 256 * PAGE ? addr + len - p : 256 * PAGE;
		if (mincore((void *)p, chunk, vec) < 0) memset(vec, 1, sizeof vec);
		for (uint64_t i = 0; i < chunk / PAGE; i++)
			if (vec[i] & 1) memcpy(dst + (p - addr) + i * PAGE, (void *)(p + i * PAGE), PAGE);
		p += chunk;
	}
}

/*
 * The file private memory moves onto: one memfd per process standing for its whole address space
 * (the page at address A lives at offset A), so memory moved in pieces is one file at contiguous
 * offsets: the kernel merges the mappings and the server maps it as one range.
 */
#define AS_FILE_SIZE (1ull << 48)

static int as_file(void)
{
	if (asfd >= 0) return asfd;
	int fd = (int)syscall(SYS_memfd_create, "vkvm-guest-memory", MFD_CLOEXEC);
	if (fd < 0) return -errno;
	fd = high_fd(fd);
	if (ftruncate(fd, (off_t)AS_FILE_SIZE) < 0) {
		int e = errno;
		real_close(fd);
		return -e;
	}
	asfd = fd;
	return fd;
}

/*
 * Makes [addr, addr+len) shared memory: finds the file a shared mapping there maps, or moves
 * private memory onto the address-space memfd in place (the whole mapping it belongs to, so later
 * memslots in the same mapping find it shared already). Returns the region holding the range.
 * Lock held.
 */
static struct region *share(uint64_t addr, uint64_t len, int *err)
{
	*err = 0;
	if (!len || (addr | len) & (PAGE - 1) || addr + len < addr) {
		*err = -EINVAL;
		return NULL;
	}
	for (int i = 0; i < nregions; i++)
		if (regions[i].addr <= addr && addr + len <= regions[i].addr + regions[i].len) return &regions[i];

	struct vma v[256];
	int n = anon_vmas(addr, len, v, 256);
	if (!n) n = vmas_in(addr, addr + len, v, 256);
	if (n < 0) {
		*err = n;
		return NULL;
	}
	*err = -EFAULT; /* a hole in the range */
	if (n == 0 || v[0].start > addr || v[n - 1].end < addr + len) return NULL;
	for (int i = 1; i < n; i++)
		if (v[i].start != v[i - 1].end) return NULL;
	*err = 0;

	/* Already a shared mapping of one file at contiguous offsets: share that file. */
	int shared = 1;
	for (int i = 0; i < n; i++)
		if (v[i].perms[3] != 's' || !v[i].ino || v[i].dev != v[0].dev || v[i].ino != v[0].ino || v[i].off - v[0].off != v[i].start - v[0].start) shared = 0;
	if (shared) {
		struct stat st;
		int fd = -1;
		if (asfd >= 0 && fstat(asfd, &st) == 0 && st.st_dev == v[0].dev && st.st_ino == v[0].ino)
			fd = real_fcntl(asfd, F_DUPFD_CLOEXEC, HIGH_FD); /* ours, mapped by an earlier move */
		else
			fd = fd_of_file(v[0].dev, v[0].ino);
		if (fd < 0) {
			*err = -ENOENT;
			return NULL;
		}
		return add_region((struct region){v[0].start, v[n - 1].end - v[0].start, v[0].off, fd, v[0].dev, v[0].ino});
	}
	for (int i = 0; i < n; i++)
		if (v[i].perms[3] == 's' || v[i].perms[0] != 'r') {
			*err = -EINVAL;
			return NULL;
		}

	/* Private memory: the whole mapping (or just the range, for [heap]/[stack]) moves. */
	uint64_t lo = v[0].start, hi = v[n - 1].end;
	for (int i = 0; i < n; i++)
		if (v[i].special) lo = addr, hi = addr + len;
	if (hi > AS_FILE_SIZE) {
		*err = -EFAULT;
		return NULL;
	}
	uint64_t size = hi - lo;
	int fd = as_file();
	if (fd < 0) {
		*err = fd;
		return NULL;
	}
	/* Pages left in the file by memory that used to live at these addresses are not ours. */
	fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)lo, (off_t)size);
	uint8_t *tmp = real_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, (off_t)lo);
	if (tmp == MAP_FAILED) {
		*err = -errno;
		return NULL;
	}
	copy_resident(tmp, lo, size);
	real_munmap(tmp, size);
	if (real_mmap((void *)lo, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_NORESERVE, fd, (off_t)lo) == MAP_FAILED) {
		*err = -errno;
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		uint64_t s = v[i].start < lo ? lo : v[i].start, e = v[i].end > hi ? hi : v[i].end;
		int prot = prot_of(v[i].perms);
		if (prot != (PROT_READ | PROT_WRITE)) real_mprotect((void *)s, e - s, prot);
	}
	pthread_mutex_lock(&anon_lock);
	anon_cut(lo, size);
	pthread_mutex_unlock(&anon_lock);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		*err = -errno;
		return NULL;
	}
	int ref = real_fcntl(fd, F_DUPFD_CLOEXEC, HIGH_FD);
	return add_region((struct region){lo, size, lo, ref < 0 ? fd : ref, st.st_dev, st.st_ino});
}

/*
 * The program unmapped (or mapped over) [addr, addr+len): regions there shrink or split (they
 * keep their file), moved memory there leaves the file, and the server drops the range.
 */
static void forget_shared(uint64_t addr, uint64_t len)
{
	int hit = 0;
	uint64_t end = addr + len;
	pthread_mutex_lock(&lock);
	struct stat st;
	int as_ok = asfd >= 0 && fstat(asfd, &st) == 0;
	for (int i = 0; i < nregions;) {
		struct region r = regions[i];
		if (!(r.addr < end && addr < r.addr + r.len)) {
			i++;
			continue;
		}
		hit = 1;
		regions[i] = regions[--nregions];
		uint64_t lo = r.addr < addr ? addr : r.addr, hi = r.addr + r.len > end ? end : r.addr + r.len;
		if (as_ok && r.dev == st.st_dev && r.ino == st.st_ino) fallocate(asfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(r.off + (lo - r.addr)), (off_t)(hi - lo));
		int keep = 0;
		if (r.addr < addr) {
			add_region((struct region){r.addr, addr - r.addr, r.off, r.fd, r.dev, r.ino});
			keep = 1;
		}
		if (r.addr + r.len > end) {
			int fd = keep ? real_fcntl(r.fd, F_DUPFD_CLOEXEC, HIGH_FD) : r.fd;
			add_region((struct region){end, r.addr + r.len - end, r.off + (end - r.addr), fd, r.dev, r.ino});
			keep = 1;
		}
		if (!keep) real_close(r.fd);
	}
	pthread_mutex_unlock(&lock);
	if (!hit || proc_pid != getpid()) return;
	struct vkvm_hdr h = {.op = VKVM_OP_UNMAP, .a = {addr, len}};
	uint32_t fl;
	call(&h, NULL, -1, &fl, 0);
}

/* ---- signals during KVM_RUN ---- */

/* The signal state of vCPU `kfd` (grown on demand). Lock held. */
static struct vcpu_sig *vsig_of(int kfd)
{
	if (kfd >= nvsig) {
		int n = nvsig ? nvsig : 64;
		while (n <= kfd) n *= 2;
		struct vcpu_sig *v = realloc(vsig, (size_t)n * sizeof *v);
		if (!v) die("out of memory");
		memset(v + nvsig, 0, (size_t)(n - nvsig) * sizeof *v);
		vsig = v;
		nvsig = n;
	}
	return &vsig[kfd];
}

/* A signal is pending that KVM_RUN's signal mask (KVM_SET_SIGNAL_MASK) lets through. */
static int signal_waiting(int kfd)
{
	if (kfd >= nvsig || !vsig[kfd].has_mask) return 0;
	sigset_t pend;
	if (sigpending(&pend) < 0) return 0;
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&pend, sig) == 1 && sigismember(&vsig[kfd].mask, sig) == 0) return 1;
	return 0;
}

/* Stops vCPU `kfd` as a signal would: immediate_exit, seen by the server's run loop. */
static void kick(int kfd, int *kicked)
{
	struct kvm_run *run = kfd < nvsig ? vsig[kfd].run : NULL;
	if (!run || *kicked) return;
	if (!__atomic_load_n(&run->immediate_exit, __ATOMIC_RELAXED)) {
		__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_RELEASE);
		*kicked = 1;
	}
}

/* Waits for the server's next message while vCPU `kfd` runs, watching for signals. */
static void wait_run(int s, int kfd, int *kicked)
{
	for (;;) {
		struct pollfd p = {.fd = s, .events = POLLIN};
		int masked = kfd < nvsig && vsig[kfd].has_mask;
		int r = poll(&p, 1, masked ? 10 : -1);
		if (r > 0 || (r < 0 && errno != EINTR)) return;
		/* poll is never restarted (SA_RESTART or not): EINTR means a handler ran. */
		if (r < 0 || signal_waiting(kfd)) kick(kfd, kicked);
	}
}

/* ---- requests ---- */

static void close_kernel(int kfd1);

static void answer(int s, int64_t ret, const void *p, size_t len, int fd, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	struct vkvm_hdr h = {.op = VKVM_OP_DATA, .len = (uint32_t)len, .ret = ret, .a = {a0, a1, a2, a3}};
	if (send_all(s, &h, p, len, fd) < 0) die("server connection");
}

/* Makes a process fd for a new kernel file and records it. Called with `lock` held. */
static int new_fd(int kfd, int memfd, int cloexec_placeholder)
{
	int fd = memfd;
	if (fd < 0) fd = real_open("/dev/null", O_RDWR | (cloexec_placeholder ? O_CLOEXEC : 0));
	if (fd < 0) return -1;
	if ((unsigned)fd >= VKVM_FDTAB_ENTRIES || (unsigned)kfd >= VKVM_FDTAB_ENTRIES) {
		real_close(fd);
		errno = EMFILE;
		return -1;
	}
	fdtab[fd] = kfd + 1;
	kref[kfd]++;
	return fd;
}

/*
 * Sends a request and serves the server's callbacks until its reply; applies the reply's
 * records. Returns the result (>= 0) or -errno; *flags gets the reply flags.
 */
static int64_t call_run(struct vkvm_hdr *req, const void *payload, int sendfd, uint32_t *flags, int newfd_cloexec, int run_kfd)
{
	int s = conn();
	int kicked = 0;
	/* A signal already pending that KVM_RUN lets through: Linux returns EINTR at once. */
	if (run_kfd >= 0 && signal_waiting(run_kfd)) kick(run_kfd, &kicked);
	if (send_all(s, req, payload, req->len, sendfd) < 0) die("server connection");
	for (;;) {
		struct vkvm_hdr h;
		int fds[VKVM_MAX_FDS_PER_MSG], nfds;
		if (run_kfd >= 0) wait_run(s, run_kfd, &kicked);
		if (recv_msg(s, &h, fds, &nfds) < 0) die("server connection");
		if (h.op == VKVM_OP_REPLY && kicked) {
			struct kvm_run *run = vsig[run_kfd].run;
			__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_RELEASE);
			if (h.ret == -EINTR) run->exit_reason = KVM_EXIT_INTR;
		}
		switch (h.op) {
		case VKVM_OP_CB_READ: {
			uint64_t len = h.a[1];
			uint8_t *b = tbuf(len);
			int r = len > (1u << 30) ? -EFAULT : mem_read(b, h.a[0], len);
			answer(s, r, b, r ? 0 : len, -1, 0, 0, 0, 0);
			break;
		}
		case VKVM_OP_CB_SHARE: {
			int err;
			pthread_mutex_lock(&lock);
			struct region *r = share(h.a[0], h.a[1], &err);
			struct region c = r ? *r : (struct region){0};
			pthread_mutex_unlock(&lock);
			uint64_t id[2] = {c.dev, c.ino};
			/* a0: the address file offset 0 would have (the file maps at addr - off); a1, a2: the region. */
			int mine = 0;
			struct stat st;
			if (r && asfd >= 0 && fstat(asfd, &st) == 0) mine = st.st_dev == c.dev && st.st_ino == c.ino;
			if (r) answer(s, 0, id, sizeof id, c.fd, c.addr - c.off, c.addr, c.len, mine ? VKVM_SHARE_AS_FILE : 0);
			else answer(s, err, NULL, 0, -1, 0, 0, 0, 0);
			break;
		}
		case VKVM_OP_CB_GETFD: {
			int fd = (int)h.a[0];
			int ok = fd >= 0 && real_fcntl(fd, F_GETFD) >= 0;
			answer(s, ok ? 0 : -EBADF, NULL, 0, ok ? fd : -1, 0, 0, 0, 0);
			break;
		}
		case VKVM_OP_REPLY: {
			int64_t ret = h.ret;
			*flags = (uint32_t)h.a[0];
			if (*flags & VKVM_REPLY_CONTENTS) return ret; /* t_buf holds the file's bytes */
			uint8_t *p = t_buf;
			size_t left = h.len;
			int fdi = 0, orphan = -1;
			while (left >= sizeof(struct vkvm_rec)) {
				struct vkvm_rec r;
				memcpy(&r, p, sizeof r);
				size_t step = sizeof r + ((r.len + 7u) & ~7u);
				if (step > left) break;
				if (r.kind == VKVM_REC_WRITE) {
					/* copy_to_user into memory the program cannot write: the ioctl fails with EFAULT. */
					if (mem_write(r.addr, p + sizeof r, r.len) < 0 && ret >= 0) ret = -EFAULT;
				} else if (r.kind == VKVM_REC_NEWFD) {
					int memfd = (r.flags & VKVM_NEWFD_RUN_AREA) && fdi < nfds ? fds[fdi++] : -1;
					pthread_mutex_lock(&lock);
					int fd = new_fd(r.kfd, memfd, newfd_cloexec);
					if (fd >= 0 && memfd >= 0) {
						struct vcpu_sig *v = vsig_of(r.kfd);
						v->run = real_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
						if (v->run == MAP_FAILED) v->run = NULL;
						v->has_mask = 0;
					}
					pthread_mutex_unlock(&lock);
					if (fd < 0) {
						/* Out of fds: the kernel would have failed with EMFILE before creating. */
						orphan = r.kfd;
						ret = -EMFILE;
					} else if (r.addr == 0) {
						ret = fd;
					} else {
						int32_t v = fd;
						mem_write(r.addr, &v, sizeof v);
					}
				}
				p += step;
				left -= step;
			}
			for (; fdi < nfds; fdi++) real_close(fds[fdi]);
			if (orphan >= 0) close_kernel(orphan + 1);
			return ret;
		}
		default:
			errno = EPROTO;
			die("unexpected message from the server");
		}
	}
}

static int set_errno(int64_t r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (int)r;
}

/* ---- /dev/kvm ---- */

static int kvm_path(const char *p)
{
	if (!p) return 0;
	if (!strcmp(p, "/dev/kvm")) return 1;
	return !strncmp(p, "/sys/module/kvm", 15) && strstr(p, "/parameters/") != NULL;
}

static int kvm_open(const char *path, int flags)
{
	size_t n = strlen(path) + 1;
	struct vkvm_hdr h = {.op = VKVM_OP_OPEN, .len = (uint32_t)n, .a = {(uint64_t)(unsigned)flags}};
	uint32_t fl = 0;
	int s = conn();
	(void)s;
	/* OPEN replies either a new KVM file (a NEWFD record) or the contents of a read-only file. */
	int64_t r = call(&h, path, -1, &fl, (flags & O_CLOEXEC) != 0);
	if (r >= 0 && (fl & VKVM_REPLY_CONTENTS)) {
		/* t_buf still holds the reply payload: the file's bytes. */
		int fd = (int)syscall(SYS_memfd_create, "vkvm-param", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
		if (fd < 0) return -1;
		size_t len = (size_t)r, done = 0;
		while (done < len) {
			ssize_t w = real_write(fd, t_buf + done, len - done);
			if (w <= 0) break;
			done += (size_t)w;
		}
		lseek(fd, 0, SEEK_SET);
		return fd;
	}
	return set_errno(r);
}

static int do_open(const char *path, int flags, mode_t mode)
{
	R();
	if (sock_path && kvm_path(path)) return kvm_open(path, flags);
	return real_open(path, flags, mode);
}

EXPORT int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	if (flags & (O_CREAT | __O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return do_open(path, flags, mode);
}

EXPORT int open64(const char *path, int flags, ...) __attribute__((alias("open")));

EXPORT int __open_2(const char *path, int flags)
{
	return do_open(path, flags, 0);
}

EXPORT int __open64_2(const char *path, int flags) __attribute__((alias("__open_2")));

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	if (flags & (O_CREAT | __O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	R();
	if (sock_path && path[0] == '/' && kvm_path(path)) return kvm_open(path, flags);
	return real_openat(dirfd, path, flags, mode);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	return openat(dirfd, path, flags);
}

EXPORT int __openat64_2(int dirfd, const char *path, int flags) __attribute__((alias("__openat_2")));

EXPORT int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	va_start(ap, request);
	void *argp = va_arg(ap, void *);
	va_end(ap);
	R();
	int kfd = owned(fd);
	if (kfd < 0) return real_ioctl(fd, request, argp);
	uint64_t arg = (uint64_t)(uintptr_t)argp;
	uint32_t size = _IOC_SIZE(request);
	uint32_t plen = 0;
	uint8_t *pre = NULL;
	if (_IOC_DIR(request) != _IOC_NONE && size && arg) {
		/* The struct the request names, sent along so most ioctls need no callback. */
		pre = malloc(size);
		if (pre && mem_read(pre, arg, size) == 0) plen = size;
	}
	int run = (uint32_t)request == KVM_RUN ? kfd : -1;
	for (;;) {
		struct vkvm_hdr h = {.op = VKVM_OP_IOCTL, .len = plen, .a = {(uint64_t)kfd, (uint32_t)request, arg}};
		uint32_t fl = 0;
		int64_t r = call_run(&h, pre, -1, &fl, 1, run);
		if (fl & VKVM_REPLY_RETRY) continue;
		if ((uint32_t)request == KVM_SET_SIGNAL_MASK && r == 0) {
			/* KVM_RUN's signal mask, for the shim's own signal watch (struct kvm_signal_mask: len, sigset). */
			pthread_mutex_lock(&lock);
			struct vcpu_sig *v = vsig_of(kfd);
			v->has_mask = arg != 0;
			sigemptyset(&v->mask);
			if (arg) mem_read(&v->mask, arg + 4, 8);
			pthread_mutex_unlock(&lock);
		}
		free(pre);
		return set_errno(r);
	}
}

/* ---- fd lifetime ---- */

/* Forgets process fd `fd` (already closed); tells the server when it was the last for its file. Lock held. */
static int release(int fd)
{
	int kfd = owned(fd);
	if (kfd < 0) return 0;
	fdtab[fd] = 0;
	if (--kref[kfd]) return 0;
	return kfd + 1;
}

static void close_kernel(int kfd1)
{
	if (!kfd1) return;
	pthread_mutex_lock(&lock);
	if (kfd1 - 1 < nvsig) {
		struct vcpu_sig *v = &vsig[kfd1 - 1];
		if (v->run) real_munmap(v->run, PAGE);
		memset(v, 0, sizeof *v);
	}
	pthread_mutex_unlock(&lock);
	struct vkvm_hdr h = {.op = VKVM_OP_CLOSE, .a = {(uint64_t)(kfd1 - 1)}};
	uint32_t fl;
	call(&h, NULL, -1, &fl, 0);
}

EXPORT int close(int fd)
{
	R();
	if (owned(fd) < 0) return real_close(fd);
	pthread_mutex_lock(&lock);
	int r = real_close(fd);
	int k = r == 0 ? release(fd) : 0;
	pthread_mutex_unlock(&lock);
	close_kernel(k);
	return r;
}

/* After a successful dup of `old` to `nfd` (which was closed first if open). */
static void dup_done(int old, int nfd, int replaced_kfd1)
{
	(void)replaced_kfd1;
	int kfd = owned(old);
	if (kfd < 0 || (unsigned)nfd >= VKVM_FDTAB_ENTRIES) return;
	fdtab[nfd] = kfd + 1;
	kref[kfd]++;
}

EXPORT int dup(int old)
{
	R();
	if (owned(old) < 0) return real_dup(old);
	pthread_mutex_lock(&lock);
	int r = real_dup(old);
	if (r >= 0) dup_done(old, r, 0);
	pthread_mutex_unlock(&lock);
	return r;
}

static int dup23(int old, int nfd, int flags, int three)
{
	if (!fdtab || (owned(old) < 0 && owned(nfd) < 0)) return three ? real_dup3(old, nfd, flags) : real_dup2(old, nfd);
	pthread_mutex_lock(&lock);
	int r = three ? real_dup3(old, nfd, flags) : real_dup2(old, nfd);
	int k = 0;
	if (r >= 0 && old != nfd) {
		k = release(nfd);
		dup_done(old, nfd, k);
	}
	pthread_mutex_unlock(&lock);
	close_kernel(k);
	return r;
}

EXPORT int dup2(int old, int nfd)
{
	R();
	return dup23(old, nfd, 0, 0);
}

EXPORT int dup3(int old, int nfd, int flags)
{
	R();
	return dup23(old, nfd, flags, 1);
}

static int do_fcntl(int fd, int cmd, void *arg)
{
	R();
	if ((cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC) || owned(fd) < 0) return real_fcntl(fd, cmd, arg);
	pthread_mutex_lock(&lock);
	int r = real_fcntl(fd, cmd, arg);
	if (r >= 0) dup_done(fd, r, 0);
	pthread_mutex_unlock(&lock);
	return r;
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return do_fcntl(fd, cmd, arg);
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return do_fcntl(fd, cmd, arg);
}

/* KVM's files have no read or write (their fops leave them NULL: EINVAL). */
EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	R();
	if (owned(fd) >= 0) {
		errno = EINVAL;
		return -1;
	}
	return real_read(fd, buf, n);
}

EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	R();
	if (owned(fd) >= 0) {
		errno = EINVAL;
		return -1;
	}
	return real_write(fd, buf, n);
}

/* ---- memory ---- */

static int overlaps_shared(uint64_t addr, uint64_t len)
{
	int hit = 0;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < nregions && !hit; i++)
		if (regions[i].addr < addr + len && addr < regions[i].addr + regions[i].len) hit = 1;
	pthread_mutex_unlock(&lock);
	return hit;
}

static uint64_t page_up(uint64_t n)
{
	return (n + PAGE - 1) & ~(PAGE - 1);
}

EXPORT int munmap(void *addr, size_t len)
{
	R();
	int r = real_munmap(addr, len);
	if (r == 0 && nanons) {
		pthread_mutex_lock(&anon_lock);
		anon_cut((uint64_t)(uintptr_t)addr, page_up(len));
		pthread_mutex_unlock(&anon_lock);
	}
	if (r == 0 && nregions && overlaps_shared((uint64_t)(uintptr_t)addr, len)) forget_shared((uint64_t)(uintptr_t)addr, len);
	return r;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	R();
	void *r = real_mmap(addr, len, prot, flags, fd, off);
	if (r == MAP_FAILED) return r;
	if (sock_path) {
		pthread_mutex_lock(&anon_lock);
		if (flags & MAP_FIXED) anon_cut((uint64_t)(uintptr_t)r, page_up(len));
		if ((flags & (MAP_ANONYMOUS | MAP_PRIVATE)) == (MAP_ANONYMOUS | MAP_PRIVATE) && !(flags & MAP_HUGETLB)) anon_add((uint64_t)(uintptr_t)r, page_up(len), prot);
		pthread_mutex_unlock(&anon_lock);
	}
	if ((flags & MAP_FIXED) && nregions && overlaps_shared((uint64_t)(uintptr_t)r, len)) forget_shared((uint64_t)(uintptr_t)r, len);
	return r;
}

EXPORT int mprotect(void *addr, size_t len, int prot)
{
	R();
	int r = real_mprotect(addr, len, prot);
	if (r == 0 && nanons) {
		/* The records there take the new protection. */
		uint64_t a = (uint64_t)(uintptr_t)addr, l = page_up(len);
		pthread_mutex_lock(&anon_lock);
		int covered = 1;
		for (uint64_t at = a; at < a + l && covered;) {
			struct anon *x = anon_at(at);
			if (!x) covered = 0;
			else at = x->addr + x->len;
		}
		anon_cut(a, l);
		if (covered) anon_add(a, l, prot);
		pthread_mutex_unlock(&anon_lock);
	}
	return r;
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	void *want = va_arg(ap, void *);
	va_end(ap);
	R();
	void *r = real_mremap(old, old_len, new_len, flags, want);
	if (r != MAP_FAILED) {
		/* Moved or resized: forget what the table and the server knew of both ranges. */
		pthread_mutex_lock(&anon_lock);
		anon_cut((uint64_t)(uintptr_t)old, page_up(old_len));
		anon_cut((uint64_t)(uintptr_t)r, page_up(new_len));
		pthread_mutex_unlock(&anon_lock);
		if (nregions && overlaps_shared((uint64_t)(uintptr_t)old, old_len)) forget_shared((uint64_t)(uintptr_t)old, old_len);
	}
	return r;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) __attribute__((alias("mmap")));
