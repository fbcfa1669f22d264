/*
 * A request to the server and the callbacks it makes until its reply: the process's memory as
 * the kernel's copy_from_user/copy_to_user reach it, memslot sharing, fds; the reply's records
 * (bytes written back, new KVM files); and signals while a vCPU runs (KVM_RUN's EINTR).
 */
#include "vkvm-shim.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>


struct vcpu_sig *vsig;
int nvsig;

/* ---- the process's memory, as the kernel's copy_from_user/copy_to_user reach it ---- */

int mapped(uint64_t addr, size_t len)
{
	uint64_t lo = addr & ~(PAGE - 1), hi = (addr + len + PAGE - 1) & ~(PAGE - 1);
	unsigned char v[64];
	for (uint64_t p = lo; p < hi; p += 64 * PAGE) {
		size_t n = hi - p < 64 * PAGE ? hi - p : 64 * PAGE;
		if (mincore((void *)p, n, v) < 0) return 0;
	}
	return 1;
}

int mem_read(void *dst, uint64_t addr, size_t len)
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

int mem_write(uint64_t addr, const void *src, size_t len)
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

/* ---- signals during KVM_RUN ---- */

/* The signal state of vCPU `kfd` (grown on demand). Lock held. */
struct vcpu_sig *vsig_of(int kfd)
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
int64_t call_run(struct vkvm_hdr *req, const void *payload, int sendfd, uint32_t *flags, int newfd_cloexec, int run_kfd)
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
					int memfd = (r.flags & (VKVM_NEWFD_RUN_AREA | VKVM_NEWFD_GMEM)) && fdi < nfds ? fds[fdi++] : -1;
					pthread_mutex_lock(&lock);
					int fd = new_fd(r.kfd, memfd, newfd_cloexec);
					if (fd >= 0 && (unsigned)r.kfd < VKVM_FDTAB_ENTRIES) kgmem[r.kfd] = (r.flags & VKVM_NEWFD_GMEM) != 0;
					if (fd >= 0 && memfd >= 0 && (r.flags & VKVM_NEWFD_RUN_AREA)) {
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

int set_errno(int64_t r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (int)r;
}
