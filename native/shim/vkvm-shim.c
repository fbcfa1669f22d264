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
 *  - fallocate on a guest_memfd (forwarded: kvm_gmem_fallocate);
 *  - munmap/mmap(MAP_FIXED) over memory that was shared with the server.
 * Guest memory is shared, not copied: when the server sees a memslot it asks the shim to put the
 * range on a memfd in place (same address, contents kept) and maps that memfd itself. A vCPU fd is
 * the memfd of its mmap area (kvm_run), so mmap(vcpu_fd) is a plain shared mapping.
 *
 * The shim's other files are listed in vkvm-shim.h.
 */
#include "vkvm-shim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/ioctl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>


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

/* fallocate(2) of a KVM file: a guest_memfd allocates and punches holes in the server (kvm_gmem_fallocate). */
EXPORT int fallocate(int fd, int mode, off_t offset, off_t len)
{
	R();
	int kfd = owned(fd);
	if (kfd < 0) return real_fallocate(fd, mode, offset, len);
	struct vkvm_hdr h = {.op = VKVM_OP_FALLOCATE, .a = {(uint64_t)kfd, (uint32_t)mode, (uint64_t)offset, (uint64_t)len}};
	uint32_t fl = 0;
	return set_errno(call_run(&h, NULL, -1, &fl, 1, -1));
}

EXPORT int fallocate64(int fd, int mode, off_t offset, off_t len) __attribute__((alias("fallocate")));

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

void close_kernel(int kfd1)
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

EXPORT int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

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

/* Nor positioned or vectored reads and writes. */
EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	R();
	if (owned(fd) >= 0) {
		errno = EINVAL;
		return -1;
	}
	return real_pread(fd, buf, n, off);
}

EXPORT ssize_t pread64(int fd, void *buf, size_t n, off_t off) __attribute__((alias("pread")));

EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	R();
	if (owned(fd) >= 0) {
		errno = EINVAL;
		return -1;
	}
	return real_pwrite(fd, buf, n, off);
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) __attribute__((alias("pwrite")));

/* ---- memory ---- */

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
	/* A guest_memfd's stand-in memfd is not its memory: no mmap (6.12's kvm_gmem_fops has none:
	   ENODEV; 6.18's GUEST_MEMFD_FLAG_MMAP mapping is not offered through the shim). */
	int kfd = (flags & MAP_ANONYMOUS) ? -1 : owned(fd);
	if (kfd >= 0 && kgmem && kgmem[kfd]) {
		errno = ENODEV;
		return MAP_FAILED;
	}
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

