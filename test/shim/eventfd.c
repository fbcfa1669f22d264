/*
 * The program's own eventfds (eventfd(2) on the host) in KVM_IOEVENTFD and KVM_IRQFD through the
 * shim, checked against Linux's behaviour: guest writes that hit an ioeventfd complete without an
 * exit and count in the program's eventfd (read, poll), a datamatch miss exits, EFD_SEMAPHORE,
 * dup'd fds name the same eventfd (deassign, EBUSY), a file that is no eventfd is EINVAL and a
 * closed fd EBADF; with an in-kernel irqchip, a write to an irqfd's eventfd raises the line.
 * TAP output; exit 0 when every check passed. Run by test/shim/eventfd.test.ts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tap.h"

/* The count a non-blocking read takes, or -errno. */
static long long take(int efd)
{
	uint64_t v;
	ssize_t r = read(efd, &v, 8);
	return r == 8 ? (long long)v : -errno;
}

static int readable(int efd)
{
	struct pollfd p = {.fd = efd, .events = POLLIN};
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

#define MEM 0x8000ul

#ifdef __aarch64__
/*
 * EL1 at RAM_BASE: two hits of ioeventfd A (MMIO 0x09000000, EFD_SEMAPHORE), a hit of B
 * (MMIO 0x09001000, datamatch 0x5a), a datamatch miss on B (KVM_EXIT_MMIO), a write to
 * 0x09002000 (KVM_EXIT_MMIO, the "done" exit), then again from the start.
 */
#define RAM_BASE 0x40000000ul
#define A_ADDR 0x09000000u
#define B_ADDR 0x09001000u
#define DONE_ADDR 0x09002000u
#define A_FLAGS 0
#define A_LEN 4
static const uint32_t code[] = {
	0xd2a12000, /* mov x0, #0x9000000 */
	0xb9000001, /* str w1, [x0] */
	0xb9000001, /* str w1, [x0] */
	0xd2a12002, /* mov x2, #0x9000000 */
	0xf2820002, /* movk x2, #0x1000 */
	0x52800b43, /* mov w3, #0x5a */
	0xb9000043, /* str w3, [x2] */
	0x52800223, /* mov w3, #0x11 */
	0xb9000043, /* str w3, [x2] */
	0xd2a12004, /* mov x4, #0x9000000 */
	0xf2840004, /* movk x4, #0x2000 */
	0xb9000083, /* str w3, [x4] */
	0x17fffff4, /* b 0 */
};
#define B_LEN 4
/* The "done" exit and the exit of a write to A once deassigned. */
#define IS_DONE(r) ((r)->exit_reason == KVM_EXIT_MMIO && (r)->mmio.phys_addr == DONE_ADDR)
#define IS_A(r) ((r)->exit_reason == KVM_EXIT_MMIO && (r)->mmio.phys_addr == A_ADDR && (r)->mmio.is_write)
#else
/*
 * Real mode at 0:
 *   mov dx, A_ADDR; out dx, al; out dx, al    two hits of ioeventfd A (PIO, EFD_SEMAPHORE)
 *   mov byte [B_ADDR], 0x5a                   B (MMIO) with datamatch 0x5a
 *   mov byte [B_ADDR], 0x11                   datamatch miss: KVM_EXIT_MMIO
 *   out 0x10, al                              KVM_EXIT_IO (the "done" exit)
 *   jmp 0
 */
#define RAM_BASE 0ul
#define A_ADDR 0x1234u
#define B_ADDR 0xc000u
#define A_FLAGS KVM_IOEVENTFD_FLAG_PIO
#define A_LEN 1
static const uint8_t code[] = {
	0xba, A_ADDR & 0xff, A_ADDR >> 8, 0xee, 0xee, /* mov dx, A_ADDR; out dx, al; out dx, al */
	0xc6, 0x06, B_ADDR & 0xff, B_ADDR >> 8, 0x5a, /* mov byte [B_ADDR], 0x5a */
	0xc6, 0x06, B_ADDR & 0xff, B_ADDR >> 8, 0x11, /* mov byte [B_ADDR], 0x11 */
	0xe6, 0x10,                                   /* out 0x10, al */
	0xe9, 0xec, 0xff,                             /* jmp 0 (rel16 -20) */
};
#define B_LEN 1
#define IS_DONE(r) ((r)->exit_reason == KVM_EXIT_IO && (r)->io.port == 0x10)
#define IS_A(r) ((r)->exit_reason == KVM_EXIT_IO && (r)->io.port == A_ADDR && (r)->io.direction == KVM_EXIT_IO_OUT)
#endif

/* KVM_IRQFD on a VM with an in-kernel irqchip: errnos, and a write(2) raising the line. */
static void irqfds(int vm, int efd, int not_eventfd)
{
	struct kvm_irqfd irqfd = {.fd = (unsigned)efd, .gsi = 5};
	CHECK(io(vm, KVM_IRQFD, &irqfd) == 0, "KVM_IRQFD gsi 5 with the program's eventfd");
	struct kvm_irqfd again = {.fd = (unsigned)dup(efd), .gsi = 6};
	CHECK(io(vm, KVM_IRQFD, &again) == -EBUSY, "a dup of it for gsi 6: EBUSY (one irqfd per eventfd)");
	again.fd = (unsigned)not_eventfd;
	CHECK(io(vm, KVM_IRQFD, &again) == -EINVAL, "KVM_IRQFD with a pipe: EINVAL");
	again.fd = 999;
	CHECK(io(vm, KVM_IRQFD, &again) == -EBADF, "KVM_IRQFD with a closed fd: EBADF");
	uint64_t one = 1;
	CHECK(write(efd, &one, 8) == 8, "write(2) 1 to the irqfd's eventfd");
#ifdef __aarch64__
	printf("# arm64: the line's state is not read back here\n");
#else
	/* GSI 5 is the master PIC's IRQ 5: its IRR bit latches the edge. */
	struct kvm_irqchip chip = {.chip_id = KVM_IRQCHIP_PIC_MASTER};
	CHECK(io(vm, KVM_GET_IRQCHIP, &chip) == 0 && (chip.chip.pic.irr & (1 << 5)), "the irqfd raised IRQ 5 (PIC IRR 0x%02x)", chip.chip.pic.irr);
#endif
	CHECK(io(vm, KVM_CHECK_EXTENSION, (void *)KVM_CAP_IRQFD) >= 0 && !readable(efd), "the irqfd consumed the count");
	irqfd.flags = KVM_IRQFD_FLAG_DEASSIGN;
	CHECK(io(vm, KVM_IRQFD, &irqfd) == 0, "KVM_IRQFD deassign");
	CHECK(write(efd, &one, 8) == 8 && io(vm, KVM_CHECK_EXTENSION, (void *)KVM_CAP_IRQFD) >= 0 && readable(efd),
	      "after deassign the count stays for the program");
}

static int run(int vcpu, struct kvm_run *r, unsigned reason)
{
	return io(vcpu, KVM_RUN, NULL) == 0 && r->exit_reason == reason;
}

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	CHECK(vm >= 0, "KVM_CREATE_VM");
#ifdef __aarch64__
	/* No vGIC here (a GICv2 from KVM_CREATE_IRQCHIP would need its addresses before KVM_RUN). */
	long irqchip = -ENODEV;
#else
	/* Before any vCPU: KVM_CREATE_IRQCHIP must come first where there is one. */
	long irqchip = io(vm, KVM_CREATE_IRQCHIP, NULL);
#endif
	uint8_t *mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memcpy(mem, code, sizeof code);
	struct kvm_userspace_memory_region mr = {.slot = 0, .guest_phys_addr = RAM_BASE, .memory_size = MEM, .userspace_addr = (uintptr_t)mem};
	CHECK(io(vm, KVM_SET_USER_MEMORY_REGION, &mr) == 0, "memslot");
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	struct kvm_run *r = mmap(NULL, (size_t)ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
#ifdef __aarch64__
	struct kvm_vcpu_init init;
	ioctl(vm, KVM_ARM_PREFERRED_TARGET, &init);
	CHECK(io(vcpu, KVM_ARM_VCPU_INIT, &init) == 0, "KVM_ARM_VCPU_INIT");
	uint64_t pc = RAM_BASE;
	struct kvm_one_reg reg = {.id = KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offsetof(struct kvm_regs, regs.pc) / sizeof(uint32_t)), .addr = (uintptr_t)&pc};
	ioctl(vcpu, KVM_SET_ONE_REG, &reg);
#else
	struct kvm_sregs s;
	ioctl(vcpu, KVM_GET_SREGS, &s);
	s.cs.base = 0;
	s.cs.selector = 0;
	ioctl(vcpu, KVM_SET_SREGS, &s);
	struct kvm_regs regs = {.rip = 0, .rflags = 2};
	ioctl(vcpu, KVM_SET_REGS, &regs);
#endif

	/* ---- KVM_IOEVENTFD ---- */
	int pio = eventfd(0, EFD_NONBLOCK | EFD_SEMAPHORE | EFD_CLOEXEC);
	int mmio = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct kvm_ioeventfd pe = {.addr = A_ADDR, .len = A_LEN, .fd = pio, .flags = A_FLAGS};
	struct kvm_ioeventfd me = {.addr = B_ADDR, .len = B_LEN, .fd = mmio, .flags = KVM_IOEVENTFD_FLAG_DATAMATCH, .datamatch = 0x5a};
	CHECK(io(vm, KVM_IOEVENTFD, &pe) == 0, "KVM_IOEVENTFD %s 0x%x with the program's eventfd", A_FLAGS ? "PIO" : "MMIO", A_ADDR);
	CHECK(io(vm, KVM_IOEVENTFD, &me) == 0, "KVM_IOEVENTFD MMIO 0x%x datamatch 0x5a", B_ADDR);
	CHECK(io(vm, KVM_IOEVENTFD, &pe) == -EEXIST, "the same ioeventfd again: EEXIST");
	CHECK(pe.fd == pio && me.fd == mmio, "the struct keeps the program's fd numbers");

	int pipes[2];
	if (pipe(pipes) < 0) return 2;
	struct kvm_ioeventfd bad = {.addr = 0x2000, .len = 4, .fd = pipes[0]};
	CHECK(io(vm, KVM_IOEVENTFD, &bad) == -EINVAL, "KVM_IOEVENTFD with a pipe: EINVAL");
	bad.fd = 999;
	CHECK(io(vm, KVM_IOEVENTFD, &bad) == -EBADF, "KVM_IOEVENTFD with a closed fd: EBADF");
	bad.fd = kvm;
	CHECK(io(vm, KVM_IOEVENTFD, &bad) == -EINVAL, "KVM_IOEVENTFD with the /dev/kvm fd: EINVAL");

	CHECK(!readable(pio) && !readable(mmio), "nothing counted before the guest runs");
	CHECK(run(vcpu, r, KVM_EXIT_MMIO) && r->mmio.phys_addr == B_ADDR && r->mmio.is_write && r->mmio.data[0] == 0x11,
	      "the ioeventfd writes complete in the kernel; the datamatch miss exits (KVM_EXIT_MMIO 0x%llx data 0x%x)",
	      (unsigned long long)r->mmio.phys_addr, r->mmio.data[0]);
	CHECK(readable(pio) && readable(mmio), "poll(2): both eventfds readable");
	long long a = take(pio), b = take(pio), c = take(pio);
	CHECK(a == 1 && b == 1 && c == -EAGAIN, "EFD_SEMAPHORE eventfd: two hits read as 1, 1, then EAGAIN (%lld %lld %lld)", a, b, c);
	a = take(mmio), b = take(mmio);
	CHECK(a == 1 && b == -EAGAIN, "the MMIO eventfd counted one hit (%lld %lld)", a, b);
	CHECK(io(vcpu, KVM_RUN, NULL) == 0 && IS_DONE(r), "then the guest's last write exits");

	/* Deassign through a dup of the fd: the same eventfd (eventfd_ctx_fdget compares contexts). */
	int other = eventfd(0, EFD_NONBLOCK);
	struct kvm_ioeventfd de = pe;
	de.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	de.fd = other;
	CHECK(io(vm, KVM_IOEVENTFD, &de) == -ENOENT, "deassign with another eventfd: ENOENT");
	de.fd = dup(pio);
	CHECK(io(vm, KVM_IOEVENTFD, &de) == 0, "deassign with a dup of the eventfd");
	CHECK(io(vm, KVM_IOEVENTFD, &de) == -ENOENT, "deassign again: ENOENT");
	close(de.fd);
	/* The write to A now exits. */
	CHECK(io(vcpu, KVM_RUN, NULL) == 0 && IS_A(r), "a write to the deassigned address exits (exit reason %u)", r->exit_reason);
	CHECK(!readable(pio), "and the eventfd stays at 0");

	/* ---- KVM_IRQFD ---- */
	int efd = eventfd(0, EFD_NONBLOCK);
	struct kvm_irqfd irqfd = {.fd = (unsigned)efd, .gsi = 5};
	if (irqchip < 0) {
		printf("# no in-kernel irqchip (%s): irqfds are refused\n", strerror((int)-irqchip));
#ifdef __aarch64__
		/*
		 * Linux: EAGAIN (kvm_irqfd_assign: vgic not initialized). vkvm's arm64 answers EINVAL
		 * until its vGIC reports kvm_arch_intc_initialized; either way, refused.
		 */
		long e = io(vm, KVM_IRQFD, &irqfd);
		CHECK(e == -EAGAIN || e == -EINVAL, "KVM_IRQFD without a vGIC: refused (%s)", strerror((int)-e));
#else
		CHECK(io(vm, KVM_IRQFD, &irqfd) == -EINVAL, "KVM_IRQFD without an irqchip: EINVAL");
#endif
	} else {
		irqfds(vm, efd, pipes[1]);
	}

	printf("1..%d\n", n);
	return failed ? 1 : 0;
}
