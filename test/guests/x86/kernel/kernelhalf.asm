; Kernel-half and CPL3 regression guest: what a Linux boot hit and the earlier suites never did.
; Built by test/guests/build.sh. Loaded at 0x8000 by test/x86/kernel-half.test.ts in long mode (the test helpers' GDT and identity
; map of the low 1 GiB with 2 MiB pages). It maps the kernel half (0xffffffff80000000 + x -> x)
; through PML4[511] (with the software-available bit 58 set, as Linux's _PAGE_NOPTISHADOW),
; runs from there, and records results as qwords at DATA (see the R_* offsets), then HLTs.
;  1. #UD with RSP = 8 mod 16 (negative as a JS number): the frame is pushed below RSP aligned
;     DOWN to 16; a canary just above RSP survives.
;  2. BT/BTS/BTR/BTC (and LOCK BTS) with a register bit offset on a kernel-half operand.
;  3. IRETQ and RETFQ to CPL 3 (new SS checked against the new CPL); user code runs BTS on a
;     user-half operand and returns with INT 0x81 (a DPL-3 gate, stack from TSS.RSP0).
;  4. REP STOSB with RCX = 0 after a 64-bit load left a non-zero high half around: nothing stored.
;  5. A jump into a not-present 4K page (demand paging): the #PF handler maps it, IRETQ, and the
;     code there runs (under the block JIT the fetch happens while chaining translated blocks).
bits 64
org 0x8000

%include "kernel.inc"
%define PT        0x6000
%define PAGED     0x40000            ; physical page the demand-paged code goes to
%define PAGED_VA  (KBASE + 0x200000) ; PD[1] -> PT: VA 2 MiB..4 MiB in 4K pages
%define CANARY    0x5afe5afe5afe5afe

; result offsets (qwords)
%define R_CANARY   0x00
%define R_FRAME    0x08
%define R_RSPAFTER 0x10
%define R_BT       0x18   ; CF of BT (bit 70 initially set)
%define R_BTW0     0x20   ; operand qword 0 after BTS/BTR/BTC
%define R_BTW1     0x28   ; operand qword 1
%define R_LOCKBTS  0x30
%define R_IRET_CS  0x38
%define R_IRET_SS  0x40
%define R_RETF_CS  0x48
%define R_RETF_SS  0x50
%define R_USERBTS  0x58
%define R_REP_RCX  0x60
%define R_REP_BUF  0x68
%define R_PAGED    0x70
%define R_DONE     0x78
%define R_FAULT    0x80   ; vector of an unexpected exception (+ rip at 0x88)
%define CONT       0xe0   ; where INT 0x81 continues
%define BTBUF      0xa0   ; 2 qwords
%define USERBUF    0xc0
%define REPBUF     0xd0

start:
  ; --- page tables: user bit on the low identity map, the kernel half through PML4[511] ---
  mov qword [PML4], PDPT | 7
  mov qword [PDPT], PD | 7
  mov rax, 0x87                       ; PD[0]: 0..2 MiB, user, 2 MiB page
  mov [PD], rax
  mov qword [PD + 8], PT | 3          ; PD[1]: 4K pages (demand paging)
  mov rax, (1 << 58) | PDPT_HI | 3    ; bit 58: ignored by the walk
  mov [PML4 + 511 * 8], rax
  mov qword [PDPT_HI + 510 * 8], PD | 3
  mov rax, cr3
  mov cr3, rax
  ; --- continue in the kernel half ---
  mov rax, KBASE + khalf
  jmp rax

khalf:
  mov rsp, KSTACK
  KHALF_GDT
  mov rax, KBASE + gdtr
  lgdt [rax]
  KHALF_TSS
  ; IDT in the kernel half
  IDT_FILL mov rsi, KBASE + h_other
  mov rdi, KBASE + IDT + 6 * 16
  mov rsi, KBASE + h_ud
  call set_gate
  mov rdi, KBASE + IDT + 14 * 16
  mov rsi, KBASE + h_pf
  call set_gate
  mov rdi, KBASE + IDT + 0x81 * 16
  mov rsi, KBASE + h_user
  call set_gate
  mov byte [rdi + 5], 0xee            ; DPL 3 interrupt gate
  mov rax, KBASE + idtr
  lidt [rax]

  ; --- 1. #UD with RSP = 8 mod 16 ---
  mov rbx, KDATA
  mov rax, CANARY
  sub rsp, 8                          ; rsp = KSTACK - 8 (8 mod 16)
  mov [rsp], rax
  ud2
  mov [rbx + R_RSPAFTER], rsp
  mov rax, [rsp]
  mov rcx, CANARY
  cmp rax, rcx
  sete al
  movzx eax, al
  mov [rbx + R_CANARY], rax
  add rsp, 8

  ; --- 2. BT family, register offset 70 = qword 1 bit 6, kernel-half operand ---
  lea rsi, [rbx + BTBUF]
  mov qword [rsi], 0
  mov qword [rsi + 8], 0x40
  mov rcx, 70
  bt [rsi], rcx
  setc al
  movzx eax, al
  mov [rbx + R_BT], rax
  mov rcx, 65
  bts [rsi], rcx                      ; qword 1 bit 1
  mov rcx, 70
  btr [rsi], rcx                      ; qword 1 bit 6 off
  mov rcx, 67
  btc [rsi], rcx                      ; qword 1 bit 3
  mov rax, [rsi]
  mov [rbx + R_BTW0], rax
  mov rax, [rsi + 8]
  mov [rbx + R_BTW1], rax
  mov rcx, 127
  lock bts [rsi], rcx                 ; qword 1 bit 63
  mov rax, [rsi + 8]
  mov [rbx + R_LOCKBTS], rax

  ; --- 3a. IRETQ to CPL 3 ---
  mov rax, KBASE + after_iret
  mov [rbx + CONT], rax
  push 0x2b
  push USTACK
  pushfq
  push 0x33
  push user1
  iretq
after_iret:
  ; --- 3b. RETFQ to CPL 3 ---
  mov rax, KBASE + after_retf
  mov [rbx + CONT], rax
  push 0x2b
  push USTACK
  push 0x33
  push user2
  o64 retf
after_retf:

  ; --- 4. REP STOSB, RCX = 0, a 64-bit load with a high half just before ---
  mov qword [rbx + R_REP_RCX], -1    ; sentinels: a runaway REP never records
  mov qword [rbx + R_REP_BUF], -1
  lea rdi, [rbx + REPBUF]
  mov qword [rdi], 0
  mov rax, 0x1234567800000000
  mov [rbx + REPBUF + 8], rax
  mov rdx, [rbx + REPBUF + 8]
  xor ecx, ecx
  mov al, 0xcc
  rep stosb
  mov [rbx + R_REP_RCX], rcx
  mov rax, [rbx + REPBUF]
  mov [rbx + R_REP_BUF], rax

  ; --- 5. demand paging: copy the code to PAGED, leave its PTE empty, jump there ---
  mov rsi, KBASE + paged_code
  mov rdi, KBASE + PAGED
  mov ecx, paged_end - paged_code
  rep movsb
  mov qword [KBASE + PT], 0
  mov rax, PAGED_VA
  jmp rax
back_from_paged:
  mov qword [rbx + R_DONE], 1
  hlt

; --- the demand-paged code (copied; absolute addresses only) ---
paged_code:
  mov rbx, KDATA
  mov qword [rbx + R_PAGED], 0x600d
  mov rax, KBASE + back_from_paged
  jmp rax
paged_end:

; --- user code (low half, CPL 3) ---
user1:
  mov rsi, DATA + USERBUF
  mov rcx, 66
  bts [rsi], rcx                      ; qword 1 bit 2
  int 0x81
user2:
  int 0x81

; --- handlers ---
h_ud:
  mov rbx, KDATA
  mov [rbx + R_FRAME], rsp            ; where the CPU put the frame
  add qword [rsp], 2                  ; past UD2
  iretq
h_pf:
  mov rax, cr2
  mov rcx, PAGED_VA
  cmp rax, rcx
  jne h_other
  mov qword [KBASE + PT], PAGED | 3
  invlpg [rax]
  add rsp, 8                          ; error code
  iretq
h_user:
  mov rbx, KDATA
  mov rax, [rsp + 8]                  ; CS of the interrupted code
  mov rcx, [rsp + 32]                 ; SS
  mov rdx, [rbx + CONT]
  mov rsi, KBASE + after_iret
  cmp rdx, rsi
  jne .retf
  mov [rbx + R_IRET_CS], rax
  mov [rbx + R_IRET_SS], rcx
  mov rax, [rbx + USERBUF + 8]
  mov [rbx + R_USERBTS], rax
  jmp .back
.retf:
  mov [rbx + R_RETF_CS], rax
  mov [rbx + R_RETF_SS], rcx
.back:
  mov rsp, KSTACK
  mov ax, 0x10
  mov ss, ax
  jmp rdx
h_other:
  mov rbx, KDATA
  mov rax, [rsp]
  mov [rbx + R_FAULT + 8], rax
  mov qword [rbx + R_FAULT], 0xbad
  hlt

KHALF_TABLES
