/*
 * The shim's edge against Linux's behaviour, from an unmodified C program: pointer arguments
 * the kernel follows (flexible arrays, pointers inside structs, bad pointers), fd lifetime (dup,
 * close, fork), memslot memory shared in place, threads running vCPUs at the same time,
 * immediate_exit. TAP output; exit 0 when every check passed. Run by test/shim/abi.test.ts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/kvm.h>
#include <vkvm/kvm.h> /* guest_memfd (Debian 12's headers are 6.1) */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

#define MEM 0x10000ul

struct machine {
	int vm, vcpu;
	uint8_t *mem;
	struct kvm_run *run;
};

/* A real-mode VM with MEM bytes of RAM at 0 holding `code` at 0. */
static struct machine machine(int kvm, const uint8_t *code, size_t len, unsigned flags)
{
	struct machine m;
	m.vm = ioctl(kvm, KVM_CREATE_VM, 0);
	m.mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memcpy(m.mem, code, len);
	struct kvm_userspace_memory_region r = {.slot = 0, .flags = flags, .memory_size = MEM, .userspace_addr = (uintptr_t)m.mem};
	if (ioctl(m.vm, KVM_SET_USER_MEMORY_REGION, &r) < 0) perror("KVM_SET_USER_MEMORY_REGION");
	m.vcpu = ioctl(m.vm, KVM_CREATE_VCPU, 0);
	m.run = mmap(NULL, (size_t)ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE, MAP_SHARED, m.vcpu, 0);
	struct kvm_sregs s;
	ioctl(m.vcpu, KVM_GET_SREGS, &s);
	s.cs.base = 0;
	s.cs.selector = 0;
	ioctl(m.vcpu, KVM_SET_SREGS, &s);
	struct kvm_regs regs = {.rip = 0, .rflags = 2};
	ioctl(m.vcpu, KVM_SET_REGS, &regs);
	return m;
}

/* mov byte [0x1000], 1; mov byte [0x3000], 1; hlt */
static const uint8_t dirty_code[] = {0xc6, 0x06, 0x00, 0x10, 0x01, 0xc6, 0x06, 0x00, 0x30, 0x01, 0xf4};
/* mov ecx, 5000000; l: dec ecx; jnz l; hlt  (several KVM_RUN time slices) */
static const uint8_t loop_code[] = {0x66, 0xb9, 0x40, 0x4b, 0x4c, 0x00, 0x66, 0x49, 0x75, 0xfc, 0xf4};

/* l: jmp l  (a guest that never exits) */
static const uint8_t spin_code[] = {0xeb, 0xfe};

static volatile sig_atomic_t handled;
static void on_signal(int sig)
{
	(void)sig;
	handled++;
}

struct kicker {
	pthread_t target;
	int sig;
};
static void *kick_later(void *p)
{
	struct kicker *k = p;
	usleep(200 * 1000);
	pthread_kill(k->target, k->sig);
	return NULL;
}

static void *run_loop(void *p)
{
	struct machine *m = p;
	long r = io(m->vcpu, KVM_RUN, NULL);
	return (void *)(intptr_t)(r == 0 && m->run->exit_reason == KVM_EXIT_HLT);
}

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	CHECK(kvm >= 0, "open /dev/kvm");
	CHECK(io(kvm, KVM_GET_API_VERSION, NULL) == KVM_API_VERSION, "KVM_GET_API_VERSION");
	CHECK(fcntl(kvm, F_GETFD) == FD_CLOEXEC, "O_CLOEXEC kept on the /dev/kvm fd");

	/* A flexible array: too small is E2BIG. */
	struct kvm_cpuid2 *c = calloc(1, sizeof *c + 256 * sizeof c->entries[0]);
	c->nent = 1;
	long r = io(kvm, KVM_GET_SUPPORTED_CPUID, c);
	/* x86.c copies kvm_cpuid2 back only on success: after E2BIG nent still reads 1 (callers retry larger). */
	CHECK(r == -E2BIG && c->nent == 1, "KVM_GET_SUPPORTED_CPUID nent=1: E2BIG, nent left at %u", c->nent);
	c->nent = 256;
	r = io(kvm, KVM_GET_SUPPORTED_CPUID, c);
	CHECK(r == 0 && c->nent > 1 && c->nent < 256, "KVM_GET_SUPPORTED_CPUID: %u entries", c->nent);
	CHECK(c->entries[0].function == 0 && c->entries[0].eax >= 1, "leaf 0 reports max leaf %u", c->entries[0].eax);
	printf("# cpuid entries %u\n", c->nent);

	struct kvm_msr_list *ml = calloc(1, sizeof *ml + 1024 * 4);
	ml->nmsrs = 1024;
	r = io(kvm, KVM_GET_MSR_INDEX_LIST, ml);
	CHECK(r == 0 && ml->nmsrs > 0, "KVM_GET_MSR_INDEX_LIST: %u MSRs", ml->nmsrs);
	printf("# msr index list %u\n", ml->nmsrs);

	struct machine m = machine(kvm, dirty_code, sizeof dirty_code, KVM_MEM_LOG_DIRTY_PAGES);
	CHECK(m.vm >= 0 && m.vcpu >= 0 && m.run != MAP_FAILED, "VM, vCPU, kvm_run mapping");
	CHECK(fcntl(m.vcpu, F_GETFD) == FD_CLOEXEC && fcntl(m.vm, F_GETFD) == FD_CLOEXEC, "VM and vCPU fds are O_CLOEXEC");

	/* Bad pointers: the kernel's copy_from_user/copy_to_user fail with EFAULT. */
	CHECK(io(m.vcpu, KVM_GET_REGS, (void *)8) == -EFAULT, "KVM_GET_REGS to an unmapped pointer: EFAULT");
	void *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(io(m.vcpu, KVM_GET_REGS, ro) == -EFAULT, "KVM_GET_REGS to read-only memory: EFAULT");
	CHECK(io(m.vcpu, KVM_SET_REGS, ro) == 0, "KVM_SET_REGS from read-only memory works");
	struct kvm_regs regs = {.rip = 0, .rflags = 2};
	io(m.vcpu, KVM_SET_REGS, &regs);
	CHECK(io(m.vm, 0xAEFFul, NULL) == -ENOTTY || io(m.vm, 0xAEFFul, NULL) == -EINVAL, "unknown VM ioctl fails as the kernel's does");

	/* The guest writes pages 1 and 3 of its memory, seen by the program (shared, not copied). */
	m.mem[0x1000] = 0;
	r = io(m.vcpu, KVM_RUN, NULL);
	CHECK(r == 0 && m.run->exit_reason == KVM_EXIT_HLT, "KVM_RUN to HLT (exit_reason %u)", m.run->exit_reason);
	CHECK(m.mem[0x1000] == 1 && m.mem[0x3000] == 1, "the guest's stores are in the program's memory");
	uint64_t bitmap[1] = {0};
	struct kvm_dirty_log log = {.slot = 0, .dirty_bitmap = bitmap};
	r = io(m.vm, KVM_GET_DIRTY_LOG, &log);
	CHECK(r == 0 && bitmap[0] == 0xa, "KVM_GET_DIRTY_LOG through the bitmap pointer: 0x%llx", (unsigned long long)bitmap[0]);
	log.dirty_bitmap = (void *)16;
	CHECK(io(m.vm, KVM_GET_DIRTY_LOG, &log) == -EFAULT, "KVM_GET_DIRTY_LOG to a bad bitmap pointer: EFAULT");

	/* The memory the memslot named was moved in place: same address, contents kept. */
	CHECK(memcmp(m.mem, dirty_code, sizeof dirty_code) == 0, "memslot memory kept its contents when it was shared");

	/* A read-only mapping named by a memslot keeps its protection and contents when it is shared. */
	uint8_t *rom = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	rom[4096 + 7] = 0x77;
	mprotect(rom, 2 * 4096, PROT_READ);
	struct kvm_userspace_memory_region ro_slot = {.slot = 1, .flags = KVM_MEM_READONLY, .guest_phys_addr = 0x100000, .memory_size = 2 * 4096, .userspace_addr = (uintptr_t)rom};
	r = io(m.vm, KVM_SET_USER_MEMORY_REGION, &ro_slot);
	char perms[8] = "?";
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[512];
	while (maps && fgets(line, sizeof line, maps)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && lo <= (uintptr_t)rom && (uintptr_t)rom < hi) break;
		perms[0] = '?';
	}
	if (maps) fclose(maps);
	CHECK(r == 0 && rom[4096 + 7] == 0x77 && !strcmp(perms, "r--s"), "read-only memslot memory: contents kept, still read-only (%s)", perms);

	/* immediate_exit */
	m.run->immediate_exit = 1;
	r = io(m.vcpu, KVM_RUN, NULL);
	CHECK(r == -EINTR && m.run->exit_reason == KVM_EXIT_HLT, "immediate_exit: EINTR, exit_reason left as it was");
	m.run->immediate_exit = 0;

	/* KVM files have no read/write; mmap of the VM fd is ENODEV. */
	char b;
	CHECK(read(m.vm, &b, 1) < 0 && errno == EINVAL, "read(vm fd): EINVAL");
	CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, m.vm, 0) == MAP_FAILED && errno == ENODEV, "mmap(vm fd): ENODEV");

	/* dup keeps the file alive across close of the original; the closed number is EBADF. */
	int vm2 = dup(m.vm);
	close(m.vm);
	CHECK(io(vm2, KVM_CHECK_EXTENSION, (void *)KVM_CAP_USER_MEMORY) == 1, "a dup of the VM fd works after close of the original");
	CHECK(io(m.vm, KVM_CHECK_EXTENSION, (void *)KVM_CAP_USER_MEMORY) == -EBADF, "the closed VM fd: EBADF");
	int vm3 = fcntl(vm2, F_DUPFD_CLOEXEC, 100);
	CHECK(vm3 >= 100 && io(vm3, KVM_CHECK_EXTENSION, (void *)KVM_CAP_USER_MEMORY) == 1, "F_DUPFD_CLOEXEC of a VM fd");
	CHECK(dup2(vm2, 90) == 90 && io(90, KVM_CHECK_EXTENSION, (void *)KVM_CAP_USER_MEMORY) == 1, "dup2 of a VM fd");
	close(vm3);
	close(90);

	/* A forked child: /dev/kvm works, the parent's VM answers EIO (kvm->mm), its own VM works. */
	pid_t pid = fork();
	if (pid == 0) {
		int ok = io(kvm, KVM_GET_API_VERSION, NULL) == KVM_API_VERSION;
		ok &= io(vm2, KVM_CHECK_EXTENSION, (void *)KVM_CAP_USER_MEMORY) == -EIO;
		ok &= io(m.vcpu, KVM_RUN, NULL) == -EIO;
		int own = ioctl(kvm, KVM_CREATE_VM, 0);
		ok &= own >= 0 && io(own, KVM_CREATE_VCPU, 0) >= 0;
		_exit(ok ? 0 : 1);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork: system fd works, parent's VM/vCPU EIO, own VM works");
	CHECK(io(vm2, KVM_CHECK_EXTENSION, (void *)KVM_CAP_USER_MEMORY) == 1, "the parent's VM outlives the child");

	/* Two threads run a vCPU each, at the same time, for several time slices. */
	struct machine a = machine(kvm, loop_code, sizeof loop_code, 0), bm = machine(kvm, loop_code, sizeof loop_code, 0);
	pthread_t ta, tb;
	void *ra, *rb;
	pthread_create(&ta, NULL, run_loop, &a);
	pthread_create(&tb, NULL, run_loop, &bm);
	pthread_join(ta, &ra);
	pthread_join(tb, &rb);
	struct kvm_regs rr;
	io(a.vcpu, KVM_GET_REGS, &rr);
	CHECK(ra && rb && (uint32_t)rr.rcx == 0, "two threads, two vCPUs: both reach HLT (ecx %u)", (unsigned)rr.rcx);

	/* A signal interrupts KVM_RUN of a guest that never exits: EINTR, KVM_EXIT_INTR (SA_RESTART or not). */
	struct machine sp = machine(kvm, spin_code, sizeof spin_code, 0);
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
	sigaction(SIGUSR2, &sa, NULL);
	struct kicker k = {pthread_self(), SIGUSR2};
	pthread_t kt;
	pthread_create(&kt, NULL, kick_later, &k);
	r = io(sp.vcpu, KVM_RUN, NULL);
	pthread_join(kt, NULL);
	CHECK(r == -EINTR && sp.run->exit_reason == KVM_EXIT_INTR && handled == 1 && !sp.run->immediate_exit, "a handled signal ends KVM_RUN: EINTR, KVM_EXIT_INTR (r %ld, exit %u)", r, sp.run->exit_reason);

	/* KVM_SET_SIGNAL_MASK: a signal blocked outside KVM_RUN but not in it ends KVM_RUN and stays pending. */
	sigset_t blk;
	sigemptyset(&blk);
	sigaddset(&blk, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &blk, NULL);
	struct kvm_signal_mask *km = calloc(1, sizeof *km + 8);
	km->len = 8; /* the kernel's sigset_t: every signal but SIGUSR1 blocked in KVM_RUN */
	uint64_t all = ~0ull & ~(1ull << (SIGUSR1 - 1));
	memcpy(km->sigset, &all, 8);
	CHECK(io(sp.vcpu, KVM_SET_SIGNAL_MASK, km) == 0, "KVM_SET_SIGNAL_MASK");
	km->len = 4;
	CHECK(io(sp.vcpu, KVM_SET_SIGNAL_MASK, km) == -EINVAL, "KVM_SET_SIGNAL_MASK with len 4: EINVAL");
	k.sig = SIGUSR1;
	pthread_create(&kt, NULL, kick_later, &k);
	r = io(sp.vcpu, KVM_RUN, NULL);
	pthread_join(kt, NULL);
	sigset_t pend;
	sigpending(&pend);
	int sig = 0;
	CHECK(r == -EINTR && sigismember(&pend, SIGUSR1) == 1 && sigwait(&blk, &sig) == 0 && sig == SIGUSR1, "KVM_RUN's signal mask lets SIGUSR1 end it; it stays pending (r %ld)", r);

	/* fallocate(2) of a guest_memfd goes to the kernel (kvm_gmem_fallocate); of any other file, to libc. */
	int pvm = ioctl(kvm, KVM_CREATE_VM, 1 /* KVM_X86_SW_PROTECTED_VM */);
	struct kvm_create_guest_memfd gc = {.size = 0x4000};
	int gfd = ioctl(pvm, KVM_CREATE_GUEST_MEMFD, &gc);
	CHECK(pvm >= 0 && gfd >= 0, "KVM_CREATE_GUEST_MEMFD in a KVM_X86_SW_PROTECTED_VM");
	CHECK(fallocate(gfd, FALLOC_FL_KEEP_SIZE, 0, 0x4000) == 0, "guest_memfd: fallocate KEEP_SIZE");
	CHECK(fallocate(gfd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0x1000, 0x1000) == 0, "guest_memfd: fallocate PUNCH_HOLE");
	CHECK(fallocate(gfd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 1, 0x1000) < 0 && errno == EINVAL, "guest_memfd: unaligned PUNCH_HOLE is EINVAL");
	CHECK(fallocate(gfd, 0, 0, 0x1000) < 0 && errno == EOPNOTSUPP, "guest_memfd: fallocate without KEEP_SIZE is EOPNOTSUPP");
	CHECK(fallocate(pvm, FALLOC_FL_KEEP_SIZE, 0, 0x1000) < 0 && errno == ENODEV, "a VM fd: fallocate is ENODEV");
	FILE *tf = tmpfile();
	CHECK(tf && fallocate(fileno(tf), 0, 0, 0x1000) == 0 && ftell(tf) == 0 && fseek(tf, 0, SEEK_END) == 0 && ftell(tf) == 0x1000, "a regular file: fallocate is libc's");
	if (tf) fclose(tf);
	close(gfd);
	close(pvm);

	/* Module parameters answered for the virtual kernel. */
	int pf = open("/sys/module/kvm_intel/parameters/unrestricted_guest", O_RDONLY);
	char pv[8] = {0};
	CHECK(pf >= 0 && read(pf, pv, sizeof pv - 1) > 0 && pv[0] == 'Y', "kvm_intel.unrestricted_guest = %s", pv[0] ? "Y" : "?");
	CHECK(open("/sys/module/kvm/parameters/no_such_parameter", O_RDONLY) < 0 && errno == ENOENT, "unknown parameter: ENOENT");

	printf("1..%d\n", n);
	return failed ? 1 : 0;
}
