; The irqchip fuzzer's frame (test/x86/irqchip-fuzz.test.ts): every IDT vector goes to a handler
; that EOIs the LAPIC (xAPIC MMIO; x2APIC EOI MSR when in x2APIC mode) and returns; #GP (a refused
; WRMSR/RDMSR, both 2 bytes: the only instructions the fuzzer emits that fault) skips the
; instruction. Then it jumps to the random code the test writes at FUZZ, with IF = 0.
org 0x8000
%include "irq.inc"

FUZZ    equ 0x10000

start:
    call irq_setup
%assign v 0
%rep 256
%if v == 13
    SET_GATE v, gp_isr
%else
    SET_GATE v, any_isr
%endif
%assign v v + 1
%endrep
    mov rax, FUZZ
    jmp rax

any_isr:
    push rax
    push rcx
    push rdx
    mov ecx, 0x1b
    rdmsr
    test eax, 0x400
    jnz .x2
    mov rax, APIC
    mov dword [rax + 0xb0], 0
    jmp .out
.x2:
    mov ecx, 0x80b
    xor eax, eax
    xor edx, edx
    wrmsr
.out:
    pop rdx
    pop rcx
    pop rax
    iretq

gp_isr:
    add rsp, 8                              ; the error code
    add qword [rsp], 2                      ; past the WRMSR/RDMSR
    iretq

%include "irqlib.inc"
