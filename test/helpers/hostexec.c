/*
 * Host-CPU oracle for long-mode differential programs whose instructions the KVM instruction
 * emulator of the PVM test host cannot run (POPCNT, ENTER with nesting, SSE arithmetic...): on a
 * VMX host these run on the hardware, so the hardware is the reference. The program (flat,
 * org 0x8000, data at 0x20000, stack top 0x7f000) runs in this process at its own addresses with
 * the harness's initial registers; its final HLT faults in user mode, and the fault's register
 * state plus the data page are printed as JSON.
 *
 *   hostexec <program.bin>
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "fault-trap.h"

static sigjmp_buf jump_back;
static ucontext_t at_fault;
static int fault_signal;

static void on_fault(int sig, siginfo_t *si, void *uc) {
  (void)si;
  memcpy(&at_fault, uc, sizeof at_fault);
  fault_signal = sig;
  siglongjmp(jump_back, 1);
}

/* Zero every register but rdx (0x600, the reset value KVM gives), rsp = 0x7f000, then jump. */
void enter_guest(void);
__asm__(".globl enter_guest\n"
        "enter_guest:\n"
        "  mov $0x7f000, %rsp\n"
        "  push $0x2\n"
        "  popfq\n"
        "  pxor %xmm0, %xmm0\n pxor %xmm1, %xmm1\n pxor %xmm2, %xmm2\n pxor %xmm3, %xmm3\n"
        "  pxor %xmm4, %xmm4\n pxor %xmm5, %xmm5\n pxor %xmm6, %xmm6\n pxor %xmm7, %xmm7\n"
        "  xor %eax, %eax\n xor %ebx, %ebx\n xor %ecx, %ecx\n mov $0x600, %edx\n"
        "  xor %esi, %esi\n xor %edi, %edi\n xor %ebp, %ebp\n"
        "  xor %r8d, %r8d\n xor %r9d, %r9d\n xor %r10d, %r10d\n xor %r11d, %r11d\n"
        "  xor %r12d, %r12d\n xor %r13d, %r13d\n xor %r14d, %r14d\n xor %r15d, %r15d\n"
        "  jmp *0x1000\n");

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  FILE *f = fopen(argv[1], "rb");
  if (!f) return 2;
  static uint8_t code[0x10000];
  size_t n = fread(code, 1, sizeof code, f);
  fclose(f);
  void *m = mmap((void *)0x1000, 0x7f000, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return 3;
  memcpy((void *)0x8000, code, n);
  *(uint64_t *)0x1000 = 0x8000;
  trap_faults(on_fault);
  if (!sigsetjmp(jump_back, 1)) enter_guest();
  greg_t *g = at_fault.uc_mcontext.gregs;
  static const struct { const char *name; int reg; } regs[] = {
      {"rax", REG_RAX}, {"rbx", REG_RBX}, {"rcx", REG_RCX}, {"rdx", REG_RDX}, {"rsi", REG_RSI}, {"rdi", REG_RDI},
      {"rsp", REG_RSP}, {"rbp", REG_RBP}, {"r8", REG_R8}, {"r9", REG_R9}, {"r10", REG_R10}, {"r11", REG_R11},
      {"r12", REG_R12}, {"r13", REG_R13}, {"r14", REG_R14}, {"r15", REG_R15}, {"rip", REG_RIP}, {"rflags", REG_EFL}};
  printf("{\"signal\":%d,\"insn\":%d,\"regs\":{", fault_signal, *(uint8_t *)g[REG_RIP]);
  for (unsigned i = 0; i < sizeof regs / sizeof regs[0]; i++)
    printf("%s\"%s\":\"0x%llx\"", i ? "," : "", regs[i].name, (unsigned long long)g[regs[i].reg]);
  printf("},\"data\":\"");
  for (int i = 0; i < 256; i++) printf("%02x", ((uint8_t *)0x20000)[i]);
  printf("\"}\n");
  return 0;
}
