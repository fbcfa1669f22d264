; x87/SSE/XSAVE system behaviour, as a kernel sees it: which instruction faults with which vector
; under CR0.EM/TS/MP, CR4.OSFXSR/OSXMMEXCPT/OSXSAVE, a pending x87 exception (#MF), an unmasked
; SIMD exception (#XM), XSETBV/XGETBV operands, XSAVE/XRSTOR alignment and headers; and what the
; state instructions store. Built by test/guests/build.sh; loaded at 0x8000 in long mode by
; test/x86/fpu-system.test.ts, which checks the records against the SDM.
;
; Runs in the kernel half (0xffffffff80000000 + x -> x) at CPL 0, then part of it again at CPL 3
; from the low half. Every probe is `T insn`: the record (RES + 8*n, n counting up) is the vector
; it raised (0xff: none) | 0x100 when the saved RIP was the probed instruction's | error code << 16.
; `V reg` records a value (VAL + 8*n). The handlers resume at the probe's continuation with IRETQ.
bits 64
default rel
org 0x8000

%include "kernel.inc"

; DATA layout
%define EXPRIP  0x00
%define CONT    0x08
%define LAST    0x10
%define UCONT   0x18   ; where INT 0x81 (back from CPL 3) continues
%define FAULT   0x20   ; 0xbad + vector, rip at 0x28: an exception no probe expected
%define DONE    0x30
%define TMP     0x40
%define PAT     0x80   ; 16-byte pattern
%define RES     0x100  ; probe records
%define VAL     0x800  ; value records
%define XAREA   0x1000 ; 4 KiB state area (64-byte aligned)

%define CR0_MP  (1 << 1)
%define CR0_EM  (1 << 2)
%define CR0_TS  (1 << 3)
%define CR4_OSFXSR     (1 << 9)
%define CR4_OSXMMEXCPT (1 << 10)
%define CR4_OSXSAVE    (1 << 18)

%assign NT 0
%assign NV 0

; T insn: probe one instruction (r11 is the harness's scratch register).
%macro T 1+
  lea r11, [%%insn]
  mov [rbx + EXPRIP], r11
  lea r11, [%%cont]
  mov [rbx + CONT], r11
  mov qword [rbx + LAST], 0xff
%%insn:
  %1
%%cont:
  mov r11, [rbx + LAST]
  mov [rbx + RES + NT * 8], r11
%assign NT NT + 1
%endmacro

; V src: record a 64-bit register.
%macro V 1
  mov [rbx + VAL + NV * 8], %1
%assign NV NV + 1
%endmacro

%macro SETCR0 2 ; set bits, clear bits
  mov rax, cr0
  or rax, %1
  and rax, ~(%2)
  mov cr0, rax
%endmacro
%macro SETCR4 2
  mov rax, cr4
  or rax, %1
  and rax, ~(%2)
  mov cr4, rax
%endmacro
%macro MXCSR 1
  mov dword [rbx + TMP], %1
  ldmxcsr [rbx + TMP]
%endmacro

start:
  ; --- page tables: the low 2 MiB user-accessible, the kernel half through PML4[511] ---
  mov qword [abs PML4], PDPT | 7
  mov qword [abs PDPT], PD | 7
  mov qword [abs PD], 0x87
  mov rax, PDPT_HI | 3
  mov [abs PML4 + 511 * 8], rax
  mov qword [abs PDPT_HI + 510 * 8], PD | 3
  mov rax, cr3
  mov cr3, rax
  mov rax, KBASE + khalf
  jmp rax

khalf:
  mov rsp, KSTACK
  KHALF_GDT
  lgdt [gdtr]
  KHALF_TSS
  IDT_FILL lea rsi, [h_other]
%macro GATE 2
  mov rdi, KBASE + IDT + %1 * 16
  lea rsi, [%2]
  call set_gate
%endmacro
  GATE 6, h6
  GATE 7, h7
  GATE 13, h13
  GATE 16, h16
  GATE 19, h19
  GATE 0x81, h_user
  mov byte [rdi + 5], 0xee            ; DPL 3
  lidt [idtr]
  mov rbx, KDATA
  mov rax, 0x0123456789abcdef
  mov [rbx + PAT], rax
  mov rax, 0xfedcba9876543210
  mov [rbx + PAT + 8], rax

  ; ---- 1. CPUID.1 before CR4.OSXSAVE; SSE with CR4.OSFXSR clear ----
  mov eax, 1
  cpuid
  mov rbx, KDATA                      ; CPUID wrote EBX
  V rcx                               ; V0: ECX (OSXSAVE clear)
  V rdx                               ; V1: EDX
  fninit
  SETCR4 0, CR4_OSFXSR
  T movaps xmm0, xmm1                 ; T0: #UD
  T fxsave [rbx + XAREA]              ; T1: none (x87 part only)
  T paddb mm0, mm1                    ; T2: none (MMX needs no OSFXSR)
  T emms                              ; T3: none
  SETCR4 CR4_OSFXSR | CR4_OSXMMEXCPT, 0

  ; ---- 2. XSAVE family with CR4.OSXSAVE clear ----
  xor ecx, ecx
  T xgetbv                            ; T4: #UD
  mov eax, 1
  xor edx, edx
  T xsetbv                            ; T5: #UD
  T xsave [rbx + XAREA]               ; T6: #UD
  mov rax, cr4
  or rax, CR4_OSXSAVE
  T mov cr4, rax                      ; T7: none (#GP(0) without XSAVE in the guest CPUID)
  mov rax, cr4
  test eax, CR4_OSXSAVE
  jnz .osxsave
  mov qword [rbx + DONE], -1          ; no XSAVE for this guest: stop here
  hlt
.osxsave:
  mov eax, 1
  cpuid
  mov rbx, KDATA                      ; CPUID wrote EBX
  V rcx                               ; V2: ECX (OSXSAVE mirrors CR4)

  ; ---- 3. XGETBV / XSETBV ----
  xor ecx, ecx
  T xgetbv                            ; T8: none
  V rax                               ; V3: XCR0 low (1 at reset)
  V rdx                               ; V4: XCR0 high
  mov ecx, 1
  T xgetbv                            ; T9: #GP(0) (no XGETBV_ECX1)
  xor ecx, ecx
  xor edx, edx
  xor eax, eax
  T xsetbv                            ; T10: #GP(0): x87 off
  mov eax, 2
  T xsetbv                            ; T11: #GP(0): x87 off
  mov eax, 7
  T xsetbv                            ; T12: #GP(0): AVX is not implemented
  mov eax, 1
  mov edx, 1
  T xsetbv                            ; T13: #GP(0): bit 32
  xor edx, edx
  mov ecx, 1
  T xsetbv                            ; T14: #GP(0): XCR1
  xor ecx, ecx
  mov eax, 3
  T xsetbv                            ; T15: none
  xor eax, eax
  xgetbv
  V rax                               ; V5: 3

  ; ---- 4. CR0.TS (with MP) ----
  SETCR0 CR0_TS | CR0_MP, CR0_EM
  T fld1                              ; T16: #NM
  T fwait                             ; T17: #NM (TS and MP)
  T fnstsw ax                         ; T18: #NM (no-wait forms too)
  T movaps xmm0, xmm1                 ; T19: #NM
  T paddb mm0, mm1                    ; T20: #NM
  T emms                              ; T21: #NM
  T fxsave [rbx + XAREA]              ; T22: #NM
  mov eax, 3
  xor edx, edx
  T xsave [rbx + XAREA]               ; T23: #NM
  T ldmxcsr [rbx + TMP]               ; T24: #NM
  xor ecx, ecx
  T xgetbv                            ; T25: none
  SETCR0 0, CR0_MP
  T fwait                             ; T26: none (TS without MP)
  SETCR0 CR0_MP, 0
  T clts                              ; T27: none
  T fld1                              ; T28: none
  mov rax, cr0
  V rax                               ; V6: CR0 (TS clear)

  ; ---- 5. CR0.EM ----
  SETCR0 CR0_EM, CR0_TS
  T fld1                              ; T29: #NM
  T movaps xmm0, xmm1                 ; T30: #UD
  T paddb mm0, mm1                    ; T31: #UD
  T fxsave [rbx + XAREA]              ; T32: #NM
  mov eax, 3
  xor edx, edx
  T xsave [rbx + XAREA]               ; T33: none (EM does not affect XSAVE)
  T fwait                             ; T34: none (EM does not affect WAIT)
  T ldmxcsr [rbx + TMP]               ; T35: #UD
  SETCR0 0, CR0_EM

  ; ---- 6. a pending x87 exception: #MF at the next waiting x87/MMX instruction ----
  fninit
  mov word [rbx + TMP], 0x37b         ; ZE unmasked
  fldcw [rbx + TMP]
  fld1
  fldz
  T fdivp st1, st0                    ; T36: none (the exception only becomes pending)
  T fnstsw ax                         ; T37: none
  V rax                               ; V7: FSW (ES, B, ZE)
  T fwait                             ; T38: #MF
  T fld1                              ; T39: #MF
  T paddb mm0, mm1                    ; T40: #MF
  T emms                              ; T41: #MF
  T movaps xmm0, xmm1                 ; T42: none (SSE ignores it)
  T fxsave [rbx + XAREA]              ; T43: none
  T finit                             ; T44: #MF (at its WAIT)
  T fnclex                            ; T45: none
  T fwait                             ; T46: none
  fninit

  ; ---- 7. unmasked SIMD exceptions: #XM, or #UD without CR4.OSXMMEXCPT ----
  mov dword [rbx + TMP], 0x3f800000   ; 1.0f
  movd xmm0, [rbx + TMP]
  xorps xmm1, xmm1
  MXCSR 0x1d80                        ; ZM clear
  T divss xmm0, xmm1                  ; T47: #XM
  stmxcsr [rbx + TMP]
  mov eax, [rbx + TMP]
  V rax                               ; V8: MXCSR 0x1d84
  movd eax, xmm0
  V rax                               ; V9: 1.0f, unchanged
  MXCSR 0x1d80
  SETCR4 0, CR4_OSXMMEXCPT
  T divss xmm0, xmm1                  ; T48: #UD
  SETCR4 CR4_OSXMMEXCPT, 0
  MXCSR 0x1f80
  T divss xmm0, xmm1                  ; T49: none (masked: infinity)
  movd eax, xmm0
  V rax                               ; V10: 0x7f800000
  mov dword [rbx + TMP], 0x10000
  T ldmxcsr [rbx + TMP]               ; T50: #GP(0): reserved MXCSR bit

  ; ---- 8. XSAVE / XRSTOR / XSAVEC ----
  mov eax, 3
  xor edx, edx
  T xsave [rbx + XAREA + 16]          ; T51: #GP(0): not 64-byte aligned
  T fxsave [rbx + XAREA + 8]          ; T52: #GP(0): not 16-byte aligned
  ; a state to save
  fninit
  fld1
  fldpi
  movdqu xmm3, [rbx + PAT]
  MXCSR 0x9f80
  lea rdi, [rbx + XAREA]
  xor eax, eax
  mov ecx, 4096 / 8
  rep stosq
  mov eax, 3
  xor edx, edx
  T xsave [rbx + XAREA]               ; T53: none
  mov rax, [rbx + XAREA + 512]
  V rax                               ; V11: XSTATE_BV 3
  mov rax, [rbx + XAREA + 520]
  V rax                               ; V12: XCOMP_BV 0
  mov eax, [rbx + XAREA + 24]
  V rax                               ; V13: MXCSR 0x9f80
  mov rax, [rbx + XAREA + 160 + 48]
  V rax                               ; V14: XMM3 low
  ; clobber, then restore
  fninit
  pxor xmm3, xmm3
  MXCSR 0x1f80
  mov eax, 3
  xor edx, edx
  T xrstor [rbx + XAREA]              ; T54: none
  movq rax, xmm3
  V rax                               ; V15: pattern low
  stmxcsr [rbx + TMP]
  mov eax, [rbx + TMP]
  V rax                               ; V16: 0x9f80
  fstp qword [rbx + TMP]
  mov rax, [rbx + TMP]
  V rax                               ; V17: pi
  fstp qword [rbx + TMP]
  mov rax, [rbx + TMP]
  V rax                               ; V18: 1.0
  ; bad headers
  mov eax, 3
  xor edx, edx
  mov qword [rbx + XAREA + 512], 7
  T xrstor [rbx + XAREA]              ; T55: #GP(0): XSTATE_BV outside XCR0
  mov qword [rbx + XAREA + 512], 3
  mov byte [rbx + XAREA + 512 + 40], 1
  T xrstor [rbx + XAREA]              ; T56: #GP(0): reserved header bytes
  mov byte [rbx + XAREA + 512 + 40], 0
  mov dword [rbx + XAREA + 24], 0x10000
  T xrstor [rbx + XAREA]              ; T57: #GP(0): reserved MXCSR bit
  mov dword [rbx + XAREA + 24], 0x9f80
  ; XSTATE_BV = 0: both components to their initial state (MXCSR still loaded, standard form)
  mov qword [rbx + XAREA + 512], 0
  movdqu xmm3, [rbx + PAT]
  fld1
  T xrstor [rbx + XAREA]              ; T58: none
  movq rax, xmm3
  V rax                               ; V19: 0
  fnstcw [rbx + TMP]
  movzx eax, word [rbx + TMP]
  V rax                               ; V20: 0x37f
  fnstsw ax
  movzx eax, ax
  V rax                               ; V21: 0
  stmxcsr [rbx + TMP]
  mov eax, [rbx + TMP]
  V rax                               ; V22: 0x9f80
  ; XSAVEC: compacted header; the x87 state is initial, SSE is not (MXCSR)
  mov eax, 3
  xor edx, edx
  T xsavec [rbx + XAREA]              ; T59: none
  mov rax, [rbx + XAREA + 512]
  V rax                               ; V23: XSTATE_BV 2
  mov rax, [rbx + XAREA + 520]
  V rax                               ; V24: XCOMP_BV 0x8000000000000003
  MXCSR 0x1f80
  T xrstor [rbx + XAREA]              ; T60: none (compacted form)
  stmxcsr [rbx + TMP]
  mov eax, [rbx + TMP]
  V rax                               ; V25: 0x9f80
  ; XCR0 = x87 only: XSAVE leaves the XMM area alone; SSE still runs
  mov eax, 1
  xor edx, edx
  xor ecx, ecx
  T xsetbv                            ; T61: none
  T movaps xmm0, xmm1                 ; T62: none
  mov rax, 0xaaaaaaaaaaaaaaaa
  mov [rbx + XAREA + 160], rax
  movdqu xmm0, [rbx + PAT]
  mov eax, 3
  xor edx, edx
  T xsave [rbx + XAREA]               ; T63: none
  mov rax, [rbx + XAREA + 160]
  V rax                               ; V26: 0xaaaaaaaaaaaaaaaa
  mov eax, 3
  xor edx, edx
  xor ecx, ecx
  xsetbv

  ; ---- 9. CPL 3 (low half), first with CR0.TS set ----
  SETCR0 CR0_TS, 0
  lea rax, [back1]
  mov [rbx + UCONT], rax
  lea rax, [user1]
  mov rcx, KBASE
  sub rax, rcx
  push 0x2b
  push USTACK
  pushfq
  push 0x33
  push rax
  iretq
back1:
  mov rbx, KDATA
  clts
  lea rax, [back2]
  mov [rbx + UCONT], rax
  lea rax, [user2]
  mov rcx, KBASE
  sub rax, rcx
  push 0x2b
  push USTACK
  pushfq
  push 0x33
  push rax
  iretq
back2:
  hlt

user1:
  mov rbx, DATA
  T fld1                              ; T64: #NM at CPL 3
  T movaps xmm0, xmm1                 ; T65: #NM
  xor ecx, ecx
  T xgetbv                            ; T66: none (any CPL)
  mov eax, 3
  xor edx, edx
  T xsetbv                            ; T67: #GP(0) at CPL 3
  T clts                              ; T68: #GP(0) at CPL 3
  int 0x81
user2:
  mov rbx, DATA
  mov dword [rbx + TMP], 0x3f800000
  movd xmm0, [rbx + TMP]
  xorps xmm1, xmm1
  MXCSR 0x1d80
  T divss xmm0, xmm1                  ; T69: #XM at CPL 3
  MXCSR 0x1f80
  fninit
  mov word [rbx + TMP], 0x37b
  fldcw [rbx + TMP]
  fld1
  fldz
  fdivp st1, st0
  T fwait                             ; T70: #MF at CPL 3
  fninit
  mov eax, 3
  xor edx, edx
  T xsave [rbx + XAREA]               ; T71: none at CPL 3
  mov rax, [rbx + XAREA + 512]
  V rax                               ; V27: XSTATE_BV
  mov qword [rbx + DONE], NT          ; every probe ran
  int 0x81

; --- handlers: vector (and error code) to LAST, resume at CONT ---
h6:
  push 0
  push 6
  jmp h_common
h7:
  push 0
  push 7
  jmp h_common
h13:
  push 13
  jmp h_common
h16:
  push 0
  push 16
  jmp h_common
h19:
  push 0
  push 19
  jmp h_common
h_common:
  mov r10, [rsp]
  mov r11, [rsp + 8]
  shl r11, 16
  or r10, r11
  mov r11, [rsp + 16]
  cmp r11, [rbx + EXPRIP]
  jne .rip
  or r10, 0x100
.rip:
  mov [rbx + LAST], r10
  mov r11, [rbx + CONT]
  mov [rsp + 16], r11
  add rsp, 16
  iretq
h_user:
  mov rsp, KSTACK
  mov ax, 0x10
  mov ss, ax
  mov rbx, KDATA
  jmp [rbx + UCONT]
h_other:
  mov r11, KDATA
  mov rax, [rsp]
  mov [r11 + FAULT + 8], rax
  mov qword [r11 + FAULT], 0xbad
  hlt

KHALF_TABLES
