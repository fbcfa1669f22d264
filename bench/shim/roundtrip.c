/*
 * The KVM_RUN -> exit -> KVM_RUN round trip as a C program sees it (`npm run bench`, row "shim"):
 * run on the virtual /dev/kvm through `vkvm exec` (LD_PRELOAD shim + server), and directly on
 * /dev/kvm where present. x86-64: a real-mode `out 0x10, al; jmp` loop (KVM_EXIT_IO); arm64: a
 * store outside RAM in a loop (KVM_EXIT_MMIO).
 *   roundtrip ITERATIONS BATCHES   prints one "ns <per round trip>" line per batch
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM 0x10000ul

static void die(const char *what)
{
	fprintf(stderr, "roundtrip: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 20000, batches = argc > 2 ? atol(argv[2]) : 5;
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) die("open /dev/kvm");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) die("KVM_CREATE_VM");
	uint8_t *mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) die("mmap");
#ifdef __aarch64__
	const uint64_t base = 0x40000000;
	const uint32_t code[] = {0xd2a12001 /* movz x1, #0x900, lsl #16 */, 0xb9000020 /* l: str w0, [x1] */, 0x17ffffff /* b l */};
	const unsigned want = KVM_EXIT_MMIO;
#else
	const uint64_t base = 0;
	const uint8_t code[] = {0xe6, 0x10 /* l: out 0x10, al */, 0xeb, 0xfc /* jmp l */};
	const unsigned want = KVM_EXIT_IO;
#endif
	memcpy(mem, code, sizeof code);
	struct kvm_userspace_memory_region r = {.slot = 0, .guest_phys_addr = base, .memory_size = MEM, .userspace_addr = (uintptr_t)mem};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0) die("KVM_SET_USER_MEMORY_REGION");
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0) die("KVM_CREATE_VCPU");
	struct kvm_run *run = mmap(NULL, (size_t)ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED) die("mmap vcpu");
#ifdef __aarch64__
	struct kvm_vcpu_init init;
	if (ioctl(vm, KVM_ARM_PREFERRED_TARGET, &init) < 0) die("KVM_ARM_PREFERRED_TARGET");
	if (ioctl(vcpu, KVM_ARM_VCPU_INIT, &init) < 0) die("KVM_ARM_VCPU_INIT");
	uint64_t pc = base;
	struct kvm_one_reg reg = {.id = KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offsetof(struct kvm_regs, regs.pc) / sizeof(uint32_t)), .addr = (uintptr_t)&pc};
	if (ioctl(vcpu, KVM_SET_ONE_REG, &reg) < 0) die("KVM_SET_ONE_REG pc");
#else
	struct kvm_sregs s;
	if (ioctl(vcpu, KVM_GET_SREGS, &s) < 0) die("KVM_GET_SREGS");
	s.cs.base = 0;
	s.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &s) < 0) die("KVM_SET_SREGS");
	struct kvm_regs regs = {.rip = 0, .rflags = 2};
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");
#endif
	for (long i = 0; i < iters / 10 + 1; i++)
		if (ioctl(vcpu, KVM_RUN, 0) < 0) die("KVM_RUN");
	for (long b = 0; b < batches; b++) {
		double t0 = now();
		for (long i = 0; i < iters; i++)
			if (ioctl(vcpu, KVM_RUN, 0) < 0) die("KVM_RUN");
		double ns = (now() - t0) / iters;
		if (run->exit_reason != want) {
			fprintf(stderr, "roundtrip: exit reason %u, expected %u\n", run->exit_reason, want);
			return 1;
		}
		printf("ns %.0f\n", ns);
	}
	return 0;
}
