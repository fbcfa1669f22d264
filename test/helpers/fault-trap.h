/*
 * Shared by the native runners (hostexec.c, simdexec.c): every fault signal the guest bytes can
 * raise (SEGV, ILL, FPE, BUS, TRAP) goes to `handler` on an alternate stack, so a fault that
 * smashed the stack pointer still reaches it.
 */
#ifndef VKVM_FAULT_TRAP_H
#define VKVM_FAULT_TRAP_H

#include <signal.h>
#include <stdint.h>
#include <string.h>

static void trap_faults(void (*handler)(int, siginfo_t *, void *)) {
  static uint8_t altstack[65536];
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
  sigaltstack(&ss, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGILL, &sa, NULL);
  sigaction(SIGFPE, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
  sigaction(SIGTRAP, &sa, NULL);
}

#endif
