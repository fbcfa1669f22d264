/*
 * The shim's link to libc and to the server: libc's own functions (dlsym RTLD_NEXT), the process
 * state (the fd table shared with the server), one connection per thread and the HELLO that
 * opens it, and setting all of it up again in a forked child.
 */
#include "vkvm-shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

/* Surplus fds a message brings are closed past this shim's own close(). */
#define VKVM_WIRE_CLOSE(fd) syscall(SYS_close, fd)
#include "vkvm-wire.h"

/* ---- libc ---- */

int (*real_open)(const char *, int, ...);
int (*real_openat)(int, const char *, int, ...);
int (*real_ioctl)(int, unsigned long, ...);
int (*real_close)(int);
int (*real_dup)(int);
int (*real_dup2)(int, int);
int (*real_dup3)(int, int, int);
int (*real_fcntl)(int, int, ...);
ssize_t (*real_read)(int, void *, size_t);
ssize_t (*real_write)(int, const void *, size_t);
ssize_t (*real_pread)(int, void *, size_t, off_t);
ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
void *(*real_mmap)(void *, size_t, int, int, int, off_t);
int (*real_munmap)(void *, size_t);
int (*real_mprotect)(void *, size_t, int);
void *(*real_mremap)(void *, size_t, size_t, int, ...);
int (*real_fallocate)(int, int, off_t, off_t);

pthread_once_t resolve_once = PTHREAD_ONCE_INIT;
const char *sock_path; /* NULL: inert */

void resolve(void)
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
	real_pread = dlsym(RTLD_NEXT, "pread");
	real_pwrite = dlsym(RTLD_NEXT, "pwrite");
	real_mmap = dlsym(RTLD_NEXT, "mmap");
	real_munmap = dlsym(RTLD_NEXT, "munmap");
	real_mprotect = dlsym(RTLD_NEXT, "mprotect");
	real_mremap = dlsym(RTLD_NEXT, "mremap");
	real_fallocate = dlsym(RTLD_NEXT, "fallocate");
	const char *s = getenv("VKVM_SOCKET");
	sock_path = s && *s ? s : NULL;
}

void die(const char *what)
{
	char buf[256];
	int n = snprintf(buf, sizeof buf, "vkvm-shim: %s: %s\n", what, strerror(errno));
	if (n > 0) real_write(2, buf, (size_t)n);
	_exit(125);
}

/* ---- process state: fd table, connections ---- */

pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
pid_t proc_pid;                 /* pid the state below belongs to; 0 = not set up */
static unsigned proc_gen;       /* bumped at every setup (fork): thread connections reconnect */
int32_t *fdtab;                 /* shared with the server: process fd -> kernel fd + 1 */
static int fdtab_fd = -1;
uint16_t *kref;                 /* process fds per kernel fd (dup counts) */
uint8_t *kgmem;                 /* per kernel fd: 1 when it is a guest_memfd */
static int anchor_fd = -1;
static pid_t parent_pid;        /* set in a forked child until its anchor said so */

/* Every connection fd, so a forked child can close the parent's. */
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static int conns[1024];
static int nconns;

static __thread int t_conn = -1;
static __thread unsigned t_gen;
__thread uint8_t *t_buf;
static __thread size_t t_cap;
static pthread_key_t conn_key;

int high_fd(int fd)
{
	if (fd < 0 || fd >= HIGH_FD) return fd;
	int h = real_fcntl(fd, F_DUPFD_CLOEXEC, HIGH_FD);
	if (h < 0) return fd;
	real_close(fd);
	return h;
}

uint8_t *tbuf(size_t n)
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

int send_all(int s, const struct vkvm_hdr *h, const void *payload, size_t plen, int fd)
{
	return vkvm_send(s, h, payload, plen, fd) < 0 ? -1 : 0;
}

/* Receives one message: the header (with up to VKVM_MAX_FDS_PER_MSG fds) and its payload in t_buf. */
int recv_msg(int s, struct vkvm_hdr *h, int *fds, int *nfds)
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
	/* A forked child's anchor names its parent; a thread's connection names the thread, whose
	   run_delay the server reads as the vCPU task's (arm64 PV stolen time). */
	uint64_t extra = 0;
	if (flags & VKVM_HELLO_FORKED) extra = (uint64_t)parent_pid;
	else if (!(flags & VKVM_HELLO_ANCHOR)) extra = (uint64_t)syscall(SYS_gettid);
	if (flags & VKVM_HELLO_FORKED || !(flags & VKVM_HELLO_ANCHOR)) h.len = sizeof extra;
	if (send_all(s, &h, &extra, h.len, fd) < 0) die("hello");
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
		kgmem = calloc(VKVM_FDTAB_ENTRIES, sizeof *kgmem);
		if (!kref || !kgmem) die("out of memory");
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
int conn(void)
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
