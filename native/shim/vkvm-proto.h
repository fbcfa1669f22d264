/*
 * The wire protocol between the LD_PRELOAD shim (vkvm-shim.c, inside the program) and the vkvm
 * server (src/server, through vkvm-server.c). One Unix stream socket per program thread plus one
 * "anchor" connection per process whose end means the process is gone. Both ends are little-endian
 * LP64 (x86-64, or arm64 under qemu-aarch64), so the layout is the same on either side.
 *
 * Every message is a 48-byte header followed by `len` payload bytes; file descriptors travel as
 * SCM_RIGHTS with the header. A request gets exactly one VKVM_OP_REPLY; before it the server may
 * send callbacks (VKVM_OP_CB_*: copy_from_user, share a memslot's memory, pass an fd), each
 * answered with one VKVM_OP_DATA.
 */
#ifndef VKVM_PROTO_H
#define VKVM_PROTO_H

#include <stdint.h>

#define VKVM_PROTO_VERSION 1

/* Entries of the per-process fd table (shared memory): fdtab[process fd] = kernel fd + 1, 0 = not ours. */
#define VKVM_FDTAB_ENTRIES (1u << 20)

struct vkvm_hdr {
	uint32_t op;
	uint32_t len;  /* payload bytes after the header */
	int64_t ret;   /* replies and DATA: result >= 0 or -errno */
	uint64_t a[4]; /* arguments, per op */
};

enum vkvm_op {
	/* shim -> server */
	VKVM_OP_HELLO = 1,  /* a0 pid, a1 VKVM_PROTO_VERSION, a2 arch (VKVM_ARCH_*), a3 flags (VKVM_HELLO_*);
	                       an anchor carries the fd table memfd; a forked child's anchor names its parent in payload (u64);
	                       a thread's connection names the thread (its tid, u64: the server reads its scheduler statistics) */
	VKVM_OP_OPEN = 2,   /* a0 flags; payload: path with its NUL. reply: kernel fd, or file contents (VKVM_REPLY_CONTENTS) */
	VKVM_OP_IOCTL = 3,  /* a0 kernel fd, a1 request, a2 arg; payload: the _IOC_SIZE bytes at arg, when readable */
	VKVM_OP_CLOSE = 4,  /* a0 kernel fd: the process closed its last fd of that file */
	VKVM_OP_UNMAP = 5,  /* a0 addr, a1 len: the process unmapped (or mapped over) memory it had shared */
	VKVM_OP_DATA = 6,   /* answer to a callback */
	VKVM_OP_FALLOCATE = 7, /* a0 kernel fd, a1 mode, a2 offset, a3 len (fallocate(2) of a KVM file: guest_memfd) */
	/* server -> shim */
	VKVM_OP_REPLY = 64,    /* ret; a0 flags (VKVM_REPLY_*); payload: records (struct vkvm_rec) */
	VKVM_OP_CB_READ = 65,  /* a0 addr, a1 len: DATA with the bytes, or ret -EFAULT */
	VKVM_OP_CB_SHARE = 66, /* a0 addr, a1 len: make that memory shared (private memory moves onto a memfd
	                          in place). DATA ret 0 with the file attached: a0 the address of file offset 0
	                          (the range maps the file at addr - a0), a1 start and a2 length of the region
	                          mapping it contiguously (it contains the range), a3 flags (VKVM_SHARE_*);
	                          payload u64 st_dev, u64 st_ino. Or ret -errno */
	VKVM_OP_CB_GETFD = 67, /* a0 process fd: DATA ret 0 with that fd attached, or -EBADF */
};

enum { VKVM_ARCH_X86_64 = 0, VKVM_ARCH_ARM64 = 1 };

#define VKVM_HELLO_ANCHOR 1u /* the process's anchor connection (carries the fd table) */
#define VKVM_HELLO_FORKED 2u /* a forked child: payload holds the parent's pid (u64) */

/* CB_SHARE: the file is the shim's address-space memfd (offset = address, 2^48 bytes; memory the
   program unmaps is punched out of it, so stale mappings of it read zeros). */
#define VKVM_SHARE_AS_FILE 1u

#define VKVM_REPLY_RETRY 1u    /* KVM_RUN ended its time slice without an exit: run again */
#define VKVM_REPLY_CONTENTS 2u /* OPEN: not a KVM file; payload is the file's contents (a read-only file) */

/* Records of a REPLY payload, each followed by `len` bytes padded to 8. */
struct vkvm_rec {
	uint32_t kind;
	uint32_t len;
	uint64_t addr;
	int32_t kfd;
	uint32_t flags;
};

enum {
	VKVM_REC_WRITE = 1, /* copy_to_user: len bytes at addr */
	VKVM_REC_NEWFD = 2, /* a new kernel file kfd: make a process fd for it; addr 0 = it is the result,
	                       otherwise store the fd number (int) at addr */
};
#define VKVM_NEWFD_RUN_AREA 1u /* a memfd is attached (in record order): the vCPU's mmap area, used as the fd */
#define VKVM_NEWFD_GMEM 2u     /* a guest_memfd: a memfd of its size is attached, used as the fd (fstat
                                  sees its size and its own inode); it has no read, write or mmap */

#define VKVM_MAX_FDS_PER_MSG 8

#endif
