/*
 * The shim's internals, shared by its files (one shared library, built from all of them):
 *  - vkvm-shim.c        the interposed libc entry points (open, ioctl, close, dup, mmap...);
 *  - vkvm-shim-conn.c   libc's own functions, the process state (fd table), the connections to
 *                       the server and the HELLO handshake (fork included);
 *  - vkvm-shim-call.c   a request and the server's callbacks until its reply (copy_from_user /
 *                       copy_to_user over the socket, new fds, signals during KVM_RUN);
 *  - vkvm-shim-share.c  memslot memory shared with the server in place (VKVM_OP_CB_SHARE) and
 *                       the program's anonymous mappings it is found in.
 * Nothing here is exported from the library: it is built with -fvisibility=hidden and only the
 * EXPORT functions of vkvm-shim.c are visible to the program.
 */
#ifndef VKVM_SHIM_H
#define VKVM_SHIM_H

#define _GNU_SOURCE
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "vkvm-proto.h"

#define EXPORT __attribute__((visibility("default")))
#define PAGE 4096ul
/* Internal fds (sockets, memfds) live at or above this number, out of the program's way. */
#define HIGH_FD 200

#ifdef __aarch64__
#define SHIM_ARCH VKVM_ARCH_ARM64
#else
#define SHIM_ARCH VKVM_ARCH_X86_64
#endif

/* ---- libc (vkvm-shim-conn.c) ---- */

extern int (*real_open)(const char *, int, ...);
extern int (*real_openat)(int, const char *, int, ...);
extern int (*real_ioctl)(int, unsigned long, ...);
extern int (*real_close)(int);
extern int (*real_dup)(int);
extern int (*real_dup2)(int, int);
extern int (*real_dup3)(int, int, int);
extern int (*real_fcntl)(int, int, ...);
extern ssize_t (*real_read)(int, void *, size_t);
extern ssize_t (*real_write)(int, const void *, size_t);
extern ssize_t (*real_pread)(int, void *, size_t, off_t);
extern ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
extern void *(*real_mmap)(void *, size_t, int, int, int, off_t);
extern int (*real_munmap)(void *, size_t);
extern int (*real_mprotect)(void *, size_t, int);
extern void *(*real_mremap)(void *, size_t, size_t, int, ...);
extern int (*real_fallocate)(int, int, off_t, off_t);

extern pthread_once_t resolve_once;
extern const char *sock_path; /* NULL: inert */
void resolve(void);
#define R() pthread_once(&resolve_once, resolve)

__attribute__((noreturn)) void die(const char *what);

/* ---- process state and connections (vkvm-shim-conn.c) ---- */

extern pthread_mutex_t lock;
extern pid_t proc_pid;     /* pid the state belongs to; 0 = not set up */
extern int32_t *fdtab;     /* shared with the server: process fd -> kernel fd + 1 */
extern uint16_t *kref;     /* process fds per kernel fd (dup counts) */
extern uint8_t *kgmem;     /* per kernel fd: 1 when it is a guest_memfd */
extern __thread uint8_t *t_buf; /* this thread's message buffer (see tbuf) */

/* The kernel fd behind process fd `fd`, or -1 when the shim does not own it. */
static inline int owned(int fd)
{
	if (!fdtab || fd < 0 || (unsigned)fd >= VKVM_FDTAB_ENTRIES) return -1;
	return fdtab[fd] - 1;
}

int high_fd(int fd);
uint8_t *tbuf(size_t n);
int send_all(int s, const struct vkvm_hdr *h, const void *payload, size_t plen, int fd);
int recv_msg(int s, struct vkvm_hdr *h, int *fds, int *nfds);
int conn(void);

/* ---- requests (vkvm-shim-call.c) ---- */

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
extern struct vcpu_sig *vsig;
extern int nvsig;
struct vcpu_sig *vsig_of(int kfd);

int mapped(uint64_t addr, size_t len);
int mem_read(void *dst, uint64_t addr, size_t len);
int mem_write(uint64_t addr, const void *src, size_t len);
int64_t call_run(struct vkvm_hdr *req, const void *payload, int sendfd, uint32_t *flags, int newfd_cloexec, int run_kfd);
#define call(req, payload, sendfd, flags, cloexec) call_run(req, payload, sendfd, flags, cloexec, -1)
int set_errno(int64_t r);

/* ---- shared memory (vkvm-shim-share.c) ---- */

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
extern int nregions;
/* The address-space memfd private memory moves onto (see as_file). */
extern int asfd;

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
extern int nanons;
extern pthread_mutex_t anon_lock;
void anon_add(uint64_t addr, uint64_t len, int prot);
void anon_cut(uint64_t addr, uint64_t len);
struct anon *anon_at(uint64_t addr);

struct region *share(uint64_t addr, uint64_t len, int *err);
void forget_shared(uint64_t addr, uint64_t len);
int overlaps_shared(uint64_t addr, uint64_t len);

/* ---- fd lifetime (vkvm-shim.c) ---- */

void close_kernel(int kfd1);

#endif
