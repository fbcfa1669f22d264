; Ioeventfds hit by guest writes (test/x86/iobus.test.ts): PIO and MMIO writes the VMM has an
; ioeventfd for complete without an exit; the others exit as usual. 64-bit, entered by the test
; harness in long mode (identity map of the first GiB, GDT at 0x500, code at 0x8000).
;   1. CPL0: OUT 0x1234 to port 0x510 (datamatch hit), OUT 0x99 there (no match: KVM_EXIT_IO)
;   2. CPL0, through the kernel half (0xffffffff80000000 + x maps gpa x): an 8-byte MMIO store
;      of 0x1122334455667788 (datamatch hit)
;   3. CPL3 (user pages, IOPL 3): a 2-byte MMIO store (wildcard hit), OUT to port 0x512 (hit),
;      then OUT to port 0x600, which nothing claims: the test stops there.
bits 64
org 0x8000

MMIO equ 0x300000
PML4 equ 0x2000
PDPT equ 0x3000
PD   equ 0x4000
PDPT_HI equ 0x5000
GDT  equ 0x500
HIGH equ 0xffffffff80000000

start:
    mov dx, 0x510
    mov eax, 0x1234
    out dx, eax
    mov eax, 0x99
    out dx, eax
    ; the kernel half: PML4[511] -> PDPT_HI, PDPT_HI[510] -> the identity PD
    mov qword [PML4 + 511 * 8], PDPT_HI | 3
    mov qword [PDPT_HI + 510 * 8], PD | 3
    mov rax, cr3
    mov cr3, rax
    mov rdx, HIGH + MMIO + 0x10
    mov rax, 0x1122334455667788
    mov [rdx], rax
    ; user pages: the first 4 MiB (code, stack, the MMIO page)
    or qword [PML4], 4
    or qword [PDPT], 4
    or qword [PD], 4
    or qword [PD + 8], 4
    mov rax, cr3
    mov cr3, rax
    ; the harness's six GDT entries, then user data (0x30) and 64-bit user code (0x38), DPL 3
    mov rax, 0x00cff3000000ffff
    mov [GDT + 6 * 8], rax
    mov rax, 0x00affb000000ffff
    mov [GDT + 7 * 8], rax
    lgdt [gdtr]
    push 0x33                 ; SS
    push 0x7e000              ; RSP
    push 0x3002               ; RFLAGS: IOPL 3
    push 0x3b                 ; CS
    push user
    iretq
user:
    mov rdx, MMIO + 0x20
    mov ax, 0xbeef
    mov [rdx], ax
    mov dx, 0x512
    mov eax, 0x5678
    out dx, eax
    mov dx, 0x600
    out dx, al
    jmp $

gdtr:
    dw 8 * 8 - 1
    dq GDT
