/*
 * Guest-internal debug exceptions, after the scenario of KVM's selftest
 * arm64/debug-exceptions.c (Part A), written from its description: software breakpoint, HW
 * breakpoint (also on SVC and on BRK), watchpoint, software step, the OS lock blocking all but
 * BRK, and linked (context-ID) breakpoint and watchpoint. Runs for one combination of normal
 * breakpoint x19, watchpoint x20 and context-aware breakpoint x21 (set by the VMM).
 * Log at RAM_BASE + 0x20000: 32-byte records [EC, ELR, FAR, 0]; x22 = record count;
 * x23/x24/x25 = write_data after the watchpoint / OS-locked watchpoint tests; x26 = OSLSR_EL1.
 */
#include "common.inc"
#define LOG (RAM_BASE + 0x20000)
#define MDSCR_SS  (1 << 0)
#define MDSCR_KDE (1 << 13)
#define MDSCR_MDE (1 << 15)
#define BCR_EL1   ((0xf << 5) | (1 << 1) | 1)      /* BAS = 0b1111, PMC = EL1, E */
#define WCR_EL1   ((0xff << 5) | (3 << 3) | (1 << 1) | 1) /* BAS = 8 bytes, LSC = load|store, PAC = EL1, E */

.text
.global _start
_start:
  adr x0, dvectors
  msr vbar_el1, x0
  movq x27, LOG
  isb

  /* 1. software breakpoint */
  bl reset_debug_state
sw_bp:
  brk #0

  /* 2. hardware breakpoint on a NOP */
  bl reset_debug_state
  adr x1, hw_bp_nop
  bl install_hw_bp
hw_bp_nop:
  nop

  /* 3. hardware breakpoint on SVC: the breakpoint first, then the SVC */
  bl reset_debug_state
  adr x1, bp_svc
  bl install_hw_bp
bp_svc:
  svc #0

  /* 4. hardware breakpoint on BRK: the breakpoint has priority */
  bl reset_debug_state
  adr x1, bp_brk
  bl install_hw_bp
bp_brk:
  brk #0

  /* 5. watchpoint on a store; the store completes after the return */
  bl reset_debug_state
  adr x1, write_data
  strb wzr, [x1]
  bl install_wp
  mov w2, #'x'
  adr x1, write_data
wp_store:
  strb w2, [x1]
  ldrb w23, [x1]

  /* 6. software step: exceptions at ss_start, +4, +8, none once D is masked */
  bl reset_debug_state
  msr daifclr, #8
  mrs x1, mdscr_el1
  mov x3, #(MDSCR_KDE | MDSCR_SS)
  orr x1, x1, x3
  msr mdscr_el1, x1
  isb
ss_start:
  mrs x0, esr_el1
  add x0, x0, #1
  msr daifset, #8

  /* 7. the OS lock does not block BRK */
  bl reset_debug_state
  mov x1, #1
  msr oslar_el1, x1
  isb
  mrs x26, oslsr_el1
os_lock_brk:
  brk #0

  /* 8. ... but blocks the hardware breakpoint */
  bl reset_debug_state
  adr x1, os_lock_bp
  bl install_hw_bp
  mov x1, #1
  msr oslar_el1, x1
  isb
os_lock_bp:
  nop

  /* 9. ... and the watchpoint (the store happens) */
  bl reset_debug_state
  adr x1, write_data
  strb wzr, [x1]
  bl install_wp
  mov x1, #1
  msr oslar_el1, x1
  isb
  mov w2, #'y'
  adr x1, write_data
  strb w2, [x1]
  ldrb w24, [x1]

  /* 10. ... and software step */
  bl reset_debug_state
  mov x1, #1
  msr oslar_el1, x1
  isb
  msr daifclr, #8
  mrs x1, mdscr_el1
  mov x3, #(MDSCR_KDE | MDSCR_SS)
  orr x1, x1, x3
  msr mdscr_el1, x1
  isb
  nop
  nop
  msr daifset, #8

  /* 11. linked breakpoint: address match linked to a context-ID match */
  bl reset_debug_state
  movq x1, 0xabcdef
  mov x2, x21
  bl write_bvr
  ldr x1, =(BCR_EL1 | (0b0011 << 20))      /* context-aware: linked context-ID match */
  mov x2, x21
  bl write_bcr
  adr x1, linked_bp
  mov x2, x19
  bl write_bvr
  ldr x1, =(BCR_EL1 | (0b0001 << 20))      /* linked address match */
  orr x1, x1, x21, lsl #16                  /* LBN = the context breakpoint */
  mov x2, x19
  bl write_bcr
  movq x1, 0xabcdef
  msr contextidr_el1, x1
  bl enable_monitor_debug
linked_bp:
  nop
  msr contextidr_el1, xzr

  /* 12. linked watchpoint */
  bl reset_debug_state
  movq x1, 0xabcdef
  mov x2, x21
  bl write_bvr
  ldr x1, =(BCR_EL1 | (0b0011 << 20))
  mov x2, x21
  bl write_bcr
  adr x1, write_data
  mov x2, x20
  bl write_wvr
  ldr x1, =(WCR_EL1 | (1 << 20))            /* WT = linked */
  orr x1, x1, x21, lsl #16
  mov x2, x20
  bl write_wcr
  movq x1, 0xabcdef
  msr contextidr_el1, x1
  bl enable_monitor_debug
  mov w2, #'z'
  adr x1, write_data
linked_wp:
  strb w2, [x1]
  ldrb w25, [x1]
  msr contextidr_el1, xzr

  bl reset_debug_state
  movq x0, LOG
  sub x22, x27, x0
  lsr x22, x22, #5
  adr x0, sw_bp                              /* the labels the VMM checks against */
  adr x1, hw_bp_nop
  adr x2, bp_svc
  adr x3, bp_brk
  adr x4, wp_store
  adr x5, write_data
  adr x6, ss_start
  adr x7, os_lock_brk
  adr x8, linked_bp
  adr x9, linked_wp
  movq x10, (RAM_BASE + 0x28000)
  stp x0, x1, [x10]
  stp x2, x3, [x10, #16]
  stp x4, x5, [x10, #32]
  stp x6, x7, [x10, #48]
  stp x8, x9, [x10, #64]
  system_off

/* reset_debug_state: mask D, release the OS lock, clear MDSCR/CONTEXTIDR and every BP/WP. */
reset_debug_state:
  mov x16, x30
  msr daifset, #8
  msr osdlr_el1, xzr
  msr oslar_el1, xzr
  isb
  msr mdscr_el1, xzr
  msr contextidr_el1, xzr
  mov x17, #0
1:mov x1, #0
  mov x2, x17
  bl write_bcr
  mov x1, #0
  mov x2, x17
  bl write_bvr
  add x17, x17, #1
  cmp x17, #6
  b.ne 1b
  mov x17, #0
1:mov x1, #0
  mov x2, x17
  bl write_wcr
  mov x1, #0
  mov x2, x17
  bl write_wvr
  add x17, x17, #1
  cmp x17, #4
  b.ne 1b
  isb
  ret x16

/* install_hw_bp(x1 = address) on breakpoint x19 */
install_hw_bp:
  mov x16, x30
  mov x2, x19
  bl write_bvr
  ldr x1, =BCR_EL1
  mov x2, x19
  bl write_bcr
  mov x30, x16
  b enable_monitor_debug

/* install_wp(x1 = address) on watchpoint x20 */
install_wp:
  mov x16, x30
  mov x2, x20
  bl write_wvr
  ldr x1, =WCR_EL1
  mov x2, x20
  bl write_wcr
  mov x30, x16

/* MDSCR_EL1.KDE | MDE, D unmasked */
enable_monitor_debug:
  mrs x1, mdscr_el1
  mov x3, #(MDSCR_KDE | MDSCR_MDE)
  orr x1, x1, x3
  msr mdscr_el1, x1
  msr daifclr, #8
  isb
  ret

/* write_b{c,v}r / write_w{c,v}r(x1 = value, x2 = index): MSR needs the register in the encoding */
write_bcr:
  adr x3, 1f
  add x3, x3, x2, lsl #3
  br x3
1:.irp n, 0,1,2,3,4,5
  msr dbgbcr\n\()_el1, x1
  ret
  .endr
write_bvr:
  adr x3, 1f
  add x3, x3, x2, lsl #3
  br x3
1:.irp n, 0,1,2,3,4,5
  msr dbgbvr\n\()_el1, x1
  ret
  .endr
write_wcr:
  adr x3, 1f
  add x3, x3, x2, lsl #3
  br x3
1:.irp n, 0,1,2,3
  msr dbgwcr\n\()_el1, x1
  ret
  .endr
write_wvr:
  adr x3, 1f
  add x3, x3, x2, lsl #3
  br x3
1:.irp n, 0,1,2,3
  msr dbgwvr\n\()_el1, x1
  ret
  .endr
.ltorg

/* Synchronous exceptions: log [EC, ELR, FAR]; BRK skips, BP/WP return with D masked, step
 * returns with SPSR.SS set, SVC returns. */
debug_handler:
  mrs x11, esr_el1
  ubfx x11, x11, #26, #6
  mrs x12, elr_el1
  mrs x13, far_el1
  stp x11, x12, [x27], #16
  stp x13, xzr, [x27], #16
  mrs x14, spsr_el1
  cmp x11, #0x3c
  b.ne 1f
  add x12, x12, #4
  msr elr_el1, x12
  eret
1:cmp x11, #0x31
  b.eq 2f
  cmp x11, #0x35
  b.ne 3f
2:orr x14, x14, #(1 << 9)
  msr spsr_el1, x14
  eret
3:cmp x11, #0x33
  b.ne 4f
  orr x14, x14, #(1 << 21)
  msr spsr_el1, x14
4:eret

.balign 2048
dvectors:
  .irp off, 0x000, 0x080, 0x100, 0x180, 0x200, 0x280, 0x300, 0x380, 0x400, 0x480, 0x500, 0x580, 0x600, 0x680, 0x700, 0x780
  .balign 128
  b debug_handler
  .endr

.balign 8
write_data: .quad 0
