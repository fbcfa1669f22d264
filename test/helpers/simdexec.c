/*
 * Host-CPU oracle for the SIMD/x87 differential programs (test/x86/simd-gen.ts): runs a flat
 * 64-bit image at its own address in this process and prints the output region as hex.
 *
 *   simdexec <image>
 *
 * The image starts with a header of five little-endian u64: load address, image size (the
 * region mapped, header included), entry point, output offset, output length. The program ends
 * with HLT, which faults in user mode; the fault (SIGSEGV at a HLT) ends the run. Any other
 * signal is reported with the faulting instruction's address, and the output is still printed.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "fault-trap.h"

static sigjmp_buf jump_back;
static int fault_signal;
static uint64_t fault_rip;

static void on_fault(int sig, siginfo_t *si, void *uc) {
  (void)si;
  fault_signal = sig;
  fault_rip = ((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
  siglongjmp(jump_back, 1);
}

static uint64_t entry, stack_top;
static void run(void) {
  __asm__ volatile("mov %0, %%rsp\n jmp *%1\n" : : "r"(stack_top), "r"(entry) : "memory");
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  FILE *f = fopen(argv[1], "rb");
  if (!f) return 2;
  uint64_t hdr[5];
  if (fread(hdr, 8, 5, f) != 5) return 2;
  uint64_t base = hdr[0], size = hdr[1];
  entry = hdr[2];
  void *m = mmap((void *)base, size, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_FIXED_NOREPLACE | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return 3;
  fseek(f, 0, SEEK_SET);
  if (fread(m, 1, size, f) == 0) return 2;
  fclose(f);
  stack_top = base + size - 64;
  trap_faults(on_fault);
  if (!sigsetjmp(jump_back, 1)) run();
  int hlt = fault_signal == SIGSEGV && *(uint8_t *)fault_rip == 0xf4;
  printf("{\"end\":\"%s\",\"signal\":%d,\"rip\":\"0x%llx\",\"out\":\"", hlt ? "hlt" : "fault", fault_signal, (unsigned long long)fault_rip);
  const uint8_t *out = (const uint8_t *)(base + hdr[3]);
  for (uint64_t i = 0; i < hdr[4]; i++) printf("%02x", out[i]);
  printf("\"}\n");
  return 0;
}
