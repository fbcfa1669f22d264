/*
 * A kvm-hello-world-style VMM in plain C against /dev/kvm: one guest (guest.c) in each x86 mode.
 *   kvm-hello -r|-s|-p|-l GUEST.bin
 *   -r real mode, -s 32-bit protected mode, -p 32-bit protected mode with paging, -l long mode.
 * The guest's port 0xE9 output goes to stdout, then one result line. The test runs this program
 * on the virtual /dev/kvm through `vkvm exec` (and on /dev/kvm where present) and compares it
 * with the same VMM written in TypeScript (vmm.ts).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define MEM_SIZE 0x200000ul /* 2 MiB at guest physical 0 */
#define PT_BASE 0x100000ul  /* page tables at 1 MiB */
#define HELLO_PORT 0xE9

#define CR0_PE 1u
#define CR0_PG (1u << 31)
#define CR4_PSE (1u << 4)
#define CR4_PAE (1u << 5)
#define EFER_LME (1u << 8)
#define EFER_LMA (1u << 10)
#define PDE_P 1u
#define PDE_RW 2u
#define PDE_US 4u
#define PDE_PS (1u << 7)

static void die(const char *what)
{
	fprintf(stderr, "kvm-hello: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void flat_segments(struct kvm_sregs *s, int long_mode)
{
	struct kvm_segment code = {.base = 0, .limit = 0xffffffff, .selector = 8, .type = 11, .present = 1, .dpl = 0, .db = !long_mode, .s = 1, .l = long_mode, .g = 1};
	struct kvm_segment data = code;
	data.type = 3;
	data.selector = 16;
	data.l = 0;
	data.db = 1;
	s->cs = code;
	s->ds = s->es = s->fs = s->gs = s->ss = data;
}

int main(int argc, char **argv)
{
	if (argc != 3 || argv[1][0] != '-' || !strchr("rspl", argv[1][1])) {
		fprintf(stderr, "usage: kvm-hello -r|-s|-p|-l GUEST.bin\n");
		return 2;
	}
	char mode = argv[1][1];
	const char *name = mode == 'r' ? "real" : mode == 's' ? "protected" : mode == 'p' ? "paged" : "long";

	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) die("open /dev/kvm");
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) die("KVM_GET_API_VERSION");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) die("KVM_CREATE_VM");
	uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED) die("mmap");
	struct kvm_userspace_memory_region region = {.slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE, .userspace_addr = (uintptr_t)mem};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");

	FILE *f = fopen(argv[2], "rb");
	if (!f) die(argv[2]);
	size_t n = fread(mem, 1, PT_BASE, f);
	fclose(f);
	if (!n) die("empty guest image");

	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0) die("KVM_CREATE_VCPU");
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < (int)sizeof(struct kvm_run)) die("KVM_GET_VCPU_MMAP_SIZE");
	struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED) die("mmap vcpu");

	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
	switch (mode) {
	case 'r':
		sregs.cs.selector = 0;
		sregs.cs.base = 0;
		break;
	case 's':
		flat_segments(&sregs, 0);
		sregs.cr0 |= CR0_PE;
		break;
	case 'p': {
		/* One 4 MiB page (PSE) maps the first 4 MiB one to one. */
		uint32_t *pd = (uint32_t *)(mem + PT_BASE);
		pd[0] = PDE_P | PDE_RW | PDE_US | PDE_PS;
		flat_segments(&sregs, 0);
		sregs.cr3 = PT_BASE;
		sregs.cr4 |= CR4_PSE;
		sregs.cr0 |= CR0_PE | CR0_PG;
		break;
	}
	case 'l': {
		/* PML4 -> PDPT -> PD with one 2 MiB page mapping the first 2 MiB one to one. */
		uint64_t *pml4 = (uint64_t *)(mem + PT_BASE), *pdpt = pml4 + 512, *pd = pml4 + 1024;
		pml4[0] = (PT_BASE + 0x1000) | PDE_P | PDE_RW | PDE_US;
		pdpt[0] = (PT_BASE + 0x2000) | PDE_P | PDE_RW | PDE_US;
		pd[0] = PDE_P | PDE_RW | PDE_US | PDE_PS;
		flat_segments(&sregs, 1);
		sregs.cr3 = PT_BASE;
		sregs.cr4 |= CR4_PAE;
		sregs.cr0 |= CR0_PE | CR0_PG;
		sregs.efer |= EFER_LME | EFER_LMA;
		break;
	}
	}
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
	struct kvm_regs regs = {.rflags = 2, .rip = 0, .rsp = mode == 'r' ? 0xfffe : MEM_SIZE};
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");

	unsigned exits = 0, io = 0;
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) die("KVM_RUN");
		exits++;
		if (run->exit_reason == KVM_EXIT_HLT) break;
		if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT && run->io.port == HELLO_PORT && run->io.size == 1) {
			fwrite((char *)run + run->io.data_offset, 1, run->io.count, stdout);
			io++;
			continue;
		}
		fprintf(stderr, "kvm-hello: unexpected exit %u\n", run->exit_reason);
		return 3;
	}
	if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0) die("KVM_GET_REGS");
	uint32_t v400, v404;
	memcpy(&v400, mem + 0x400, 4);
	memcpy(&v404, mem + 0x404, 4);
	printf("%s mode: HLT after %u exits (%u IO) rax=%llu rip=0x%llx mem[0x400]=%u mem[0x404]=%u\n", name, exits, io, (unsigned long long)regs.rax, (unsigned long long)regs.rip, v400, v404);
	return regs.rax == 42 && v400 == 42 ? 0 : 4;
}
