; The KVMI test guest (64-bit long mode, loaded at 0x8000 by test/kvmi/helpers.ts).
; Mirrors the guest loop of the series' selftest (x86_64/kvmi_test.c): it asks the host which
; test to run (IN from port 0x10), runs it, reports done (OUT to port 0x11) and asks again.
; Host-side layout: IDT at 0x1000 (built here), page tables at 0x2000, mailbox at 0x9000,
; TEST_GVA (0x40000000) maps gpa 0x400000 and EXEC_GVA (0x40001000) gpa 0x401000 (memslot 1).
bits 64
org 0x8000

MAILBOX   equ 0x9000
TEST_ID   equ MAILBOX + 0x00   ; (unused by the guest; the host answers the IN)
HC_RESULT equ MAILBOX + 0x08   ; RAX after the agent hypercall
PATTERN   equ MAILBOX + 0x10   ; the qword the PF test writes
READ_RES  equ MAILBOX + 0x18   ; what the PF read test read
LAST_VEC  equ MAILBOX + 0x20   ; vector of the last exception the guest handled
VEC_COUNT equ MAILBOX + 0x24   ; how many exceptions the guest handled
TEST_GVA  equ 0x40000000
EXEC_GVA  equ 0x40001000

REQUEST_PORT equ 0x10
DONE_PORT    equ 0x11

start:
    ; IDT: 32 interrupt gates (selector 0x18) to the handlers below.
    mov rsi, handlers
    mov rdi, 0x1000
    xor ecx, ecx
.gate:
    mov rax, [rsi + rcx*8]
    mov rbx, rax
    and ebx, 0xffff
    mov r8, 0x18 << 16
    or rbx, r8
    mov r8, 0x8e
    shl r8, 40
    or rbx, r8
    mov r8, rax
    shr r8, 16
    and r8, 0xffff
    shl r8, 48
    or rbx, r8
    mov [rdi], rbx
    shr rax, 32
    mov [rdi + 8], rax
    add rdi, 16
    inc ecx
    cmp ecx, 32
    jb .gate
    lidt [idtr]

next_test:
    mov dx, REQUEST_PORT
    in eax, dx
    cmp eax, NTESTS
    jae done
    jmp [tests + rax*8]
done:
    mov dx, DONE_PORT
    out dx, al
    jmp next_test

tests:
    dq done, t_bp, t_cr, t_descriptor, t_hypercall, t_msr, t_pf_write, t_xsetbv, t_pf_read, t_pf_exec, t_idt
NTESTS equ ($ - tests) / 8

t_bp:                       ; 1: INT3 (the NOP keeps RIP + 2*len on an instruction boundary)
    int3
    nop
    nop
    jmp done

t_cr:                       ; 2: set CR4.OSXSAVE
    mov rax, cr4
    bts rax, 18
    mov cr4, rax
    jmp done

t_descriptor:               ; 3: SGDT then LGDT of the same value
    sub rsp, 16
    sgdt [rsp]
    lgdt [rsp]
    add rsp, 16
    jmp done

t_hypercall:                ; 4: the agent hypercall (KVM_HC_XEN_HVM_OP, GUEST_REQUEST_VM_EVENT)
    mov eax, 34
    mov edi, 24
    xor esi, esi
    vmcall
    mov [HC_RESULT], rax
    jmp done

t_msr:                      ; 5: flip bit 0 of MSR_IA32_SYSENTER_CS
    mov ecx, 0x174
    rdmsr
    xor eax, 1
    wrmsr
    jmp done

t_pf_write:                 ; 6: write the pattern to TEST_GVA
    mov rax, [PATTERN]
    mov rbx, TEST_GVA
    mov [rbx], rax
    jmp done

t_xsetbv:                   ; 7: toggle SSE state in XCR0
    mov rax, cr4
    bts rax, 18
    mov cr4, rax
    xor ecx, ecx
    xgetbv
    xor eax, 2
    xsetbv
    jmp done

t_pf_read:                  ; 8: read TEST_GVA
    mov rbx, TEST_GVA
    mov rax, [rbx]
    mov [READ_RES], rax
    jmp done

t_pf_exec:                  ; 9: call the code the host put at EXEC_GVA
    mov rax, EXEC_GVA
    call rax
    jmp done

t_idt:                      ; 10: SIDT then LIDT of the same value
    sub rsp, 16
    sidt [rsp]
    lidt [rsp]
    add rsp, 16
    jmp done

; Exception handlers: record the vector, count, drop the error code, return.
%assign i 0
%rep 32
h%[i]:
    mov byte [LAST_VEC], i
    inc dword [VEC_COUNT]
%if i == 8 || (i >= 10 && i <= 14) || i == 17 || i == 21
    add rsp, 8
%endif
    iretq
%assign i i+1
%endrep

align 8
handlers:
%assign i 0
%rep 32
    dq h%[i]
%assign i i+1
%endrep

idtr:
    dw 32 * 16 - 1
    dq 0x1000
