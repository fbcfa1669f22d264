/*
 * The vkvm server's system calls (src/server/native.ts loads this with koffi): a Unix socket
 * whose messages carry fds (SCM_RIGHTS, which Node's net module cannot receive), poll, mmap of
 * the memfds the shim shares, memfds for vCPU mmap areas, and spawning the program with a pidfd.
 * Each function returns >= 0 or -errno.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vkvm-proto.h"
#include "vkvm-wire.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT int vs_listen(const char *path)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) return -errno;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof a.sun_path) {
		close(s);
		return -ENAMETOOLONG;
	}
	strcpy(a.sun_path, path);
	if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 128) < 0) {
		int e = errno;
		close(s);
		return -e;
	}
	return s;
}

EXPORT int vs_accept(int l)
{
	int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	return s < 0 ? -errno : s;
}

/* Polls fds[0..n) for input; revents[i] gets each one's events. Returns the number ready. */
EXPORT int vs_poll(const int32_t *fds, int n, int timeout, int32_t *revents)
{
	struct pollfd p[4096];
	if (n > 4096) n = 4096;
	for (int i = 0; i < n; i++) p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
	int r;
	do r = poll(p, (nfds_t)n, timeout);
	while (r < 0 && errno == EINTR);
	if (r < 0) return -errno;
	for (int i = 0; i < n; i++) revents[i] = p[i].revents;
	return r;
}

/* Receives a message header into hdr (sizeof(struct vkvm_hdr)) and its fds. Returns the fd count. */
EXPORT int vs_recv_hdr(int s, uint8_t *hdr, int32_t *fds)
{
	return vkvm_recv_hdr(s, (struct vkvm_hdr *)hdr, fds);
}

EXPORT int vs_recv(int s, uint8_t *buf, size_t len)
{
	return vkvm_recv_all(s, buf, len);
}

/* Sends hdr then payload (plen bytes; may be NULL), with `fd` attached when >= 0. */
EXPORT int vs_send(int s, const uint8_t *hdr, const uint8_t *payload, size_t plen, int fd)
{
	return vkvm_send(s, (const struct vkvm_hdr *)hdr, payload, plen, fd);
}

/* mmap(fd) shared read/write. Returns the address, or (void *)-errno. */
EXPORT void *vs_mmap(int fd, uint64_t len, uint64_t off)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	return p == MAP_FAILED ? (void *)(intptr_t)-errno : p;
}

/* Reserves `len` bytes of address space (no access, no memory). Returns the address or (void *)-errno. */
EXPORT void *vs_reserve(uint64_t len)
{
	void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? (void *)(intptr_t)-errno : p;
}

/*
 * Maps `len` bytes of `fd` from `off` at `addr` (inside a reservation), shared read/write; with
 * fd -1, zero pages instead (what stale views of unmapped memory read, rather than a fault).
 */
EXPORT int vs_map_fixed(void *addr, uint64_t len, int fd, uint64_t off)
{
	void *p = fd >= 0 ? mmap(addr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, (off_t)off)
	                  : mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? -errno : 0;
}

EXPORT int vs_munmap(void *p, uint64_t len)
{
	return munmap(p, len) < 0 ? -errno : 0;
}

/* A memfd of `len` bytes. */
EXPORT int vs_memfd(const char *name, uint64_t len)
{
	int fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC);
	if (fd < 0) return -errno;
	if (ftruncate(fd, (off_t)len) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* out[0] = st_dev, out[1] = st_ino, out[2] = st_size. */
EXPORT int vs_fstat(int fd, uint64_t *out)
{
	struct stat st;
	if (fstat(fd, &st) < 0) return -errno;
	out[0] = st.st_dev;
	out[1] = st.st_ino;
	out[2] = (uint64_t)st.st_size;
	return 0;
}

/*
 * Takes a program's eventfd count without blocking: RWF_NOWAIT, because the file's O_NONBLOCK is
 * the program's to choose. Returns 1 with *out set, 0 when the count was 0, or -errno.
 */
EXPORT int vs_efd_take(int fd, uint64_t *out)
{
	struct iovec v = {.iov_base = out, .iov_len = 8};
	ssize_t r = preadv2(fd, &v, 1, -1, RWF_NOWAIT);
	if (r == 8) return 1;
	if (r < 0 && errno == EAGAIN) return 0;
	return r < 0 ? -errno : -EIO;
}

/*
 * Adds `v` to a program's eventfd count (eventfd_signal's side: never blocks; a count at its
 * maximum stays there). Returns 0 or -errno.
 */
EXPORT int vs_efd_add(int fd, uint64_t v)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	if (poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT)) return 0;
	return write(fd, &v, 8) == 8 ? 0 : -errno;
}

EXPORT int vs_close(int fd)
{
	return close(fd) < 0 ? -errno : 0;
}

/* Splits `n` NUL-terminated strings laid end to end into a NULL-terminated vector. */
static char **vec(const char *buf, int n)
{
	char **v = calloc((size_t)n + 1, sizeof *v);
	if (!v) return NULL;
	for (int i = 0; i < n; i++) {
		v[i] = (char *)buf;
		buf += strlen(buf) + 1;
	}
	return v;
}

/*
 * Starts `file` (PATH search) with argv/envp given as packed strings and stdio[0..2] as its
 * stdin/stdout/stderr (-1: this process's own); out[0] = pid, out[1] = a pidfd (or -1 where the
 * kernel has none: the caller then polls with a timeout).
 */
EXPORT int vs_spawn(const char *file, const char *argv, int argc, const char *envp, int envc, const int32_t *stdio, int32_t *out)
{
	char **av = vec(argv, argc), **ev = vec(envp, envc);
	if (!av || !ev) {
		free(av);
		free(ev);
		return -ENOMEM;
	}
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	/* The program starts with default signal dispositions and an empty mask, as from a shell. */
	sigset_t all, none;
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	/* The program gets this process's stdin/stdout/stderr even when they are close-on-exec here. */
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	for (int fd = 0; fd < 3; fd++) {
		int from = stdio[fd] >= 0 ? stdio[fd] : fd;
		if (fcntl(from, F_GETFD) >= 0) posix_spawn_file_actions_adddup2(&fa, from, fd);
	}
	pid_t pid;
	int r = posix_spawnp(&pid, file, &fa, &at, av, ev);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	free(av);
	free(ev);
	if (r) return -r;
	out[0] = pid;
#ifdef SYS_pidfd_open
	out[1] = (int32_t)syscall(SYS_pidfd_open, pid, 0);
#else
	out[1] = -1;
#endif
	return 0;
}

/* waitpid(pid) without blocking (hang = 0) or blocking: returns 1 and the raw status, 0 if still running. */
EXPORT int vs_wait(int pid, int hang, int32_t *status)
{
	int st = 0;
	pid_t r;
	do r = waitpid(pid, &st, hang ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r < 0) return -errno;
	if (r == 0) return 0;
	*status = st;
	return 1;
}

/* Sends `sig` to `pid`. */
EXPORT int vs_kill(int pid, int sig)
{
	return kill(pid, sig) < 0 ? -errno : 0;
}
