; A TD guest firmware for vkvm's TDX flavour: 64 KiB loaded at 0xFFFF0000 (the top of 4 GiB) by
; KVM_TDX_INIT_MEM_REGION, entered at the reset vector 0xFFFFFFF0 in 32-bit protected mode with
; paging off (the TD initial state). It enables 4-level paging (EFER.LME is already set), installs a
; #VE handler, and runs the scenario chosen by the vCPU's initial RCX (KVM_TDX_INIT_VCPU data; also
; in R8):
;   0: the full lifecycle (accept, TDVMCALL and #VE port IO and MMIO, CPUID, MSRs, GetTdVmCallInfo,
;      SetupEventNotifyInterrupt, MapGPA, GetQuote, implicit conversions, ReportFatalError, HLT)
;   1: a second vCPU: reports its index on port 0xE1 forever
;   2: touches a never-accepted private page (with SEPT_VE_DISABLE: the VM dies with EIO)
;   3: reads a private GPA that has no memslot (KVM_EXIT_MEMORY_FAULT)
;   4: probe: runs the TDCALLs of the table at 0xffffc000 (10 qwords each: RAX RCX RDX R8 R10 R11
;      R12 R13 R14 R15; RAX = -1 ends it) and reports RAX, R10, R11 of each (low then high halves)
;      on port 0xe2
; Progress is reported with TDG.VP.VMCALL<Instruction.IO> writes of 4 bytes to port 0xE0.
;
; Guest physical map (GPAW 48, shared bit 47):
;   0x00000000-0x001fffff  private RAM (guest_memfd); linear identity
;   0x8000_0000_0000 | RAM shared alias at linear 0x40000000
;   0x8000_c000_0000       MMIO (no memslot) at linear 0x40200000
;   0x00200000             private GPA without memslot at linear 0x40400000
;   0xffff0000-0xffffffff  this image (private); linear identity
bits 32
org 0xffff0000

%define SHARED (1 << 47)
%define REPORT_PORT 0xe0

%macro TDCALL 0
  db 0x66, 0x0f, 0x01, 0xcc
%endmacro

; ---- page tables (0xffff0000) ----------------------------------------------------------------
pml4:   dq 0xffff1000 + 3
        times 511 dq 0
pdpt:   dq 0xffff2000 + 3
        dq 0xffff3000 + 3
        dq 0
        dq 0xffff4000 + 3
        times 508 dq 0
pd0:    dq 0x00000000 + 0x83                ; 2 MiB private RAM
        times 511 dq 0
pd1:    dq SHARED + 0x00000000 + 0x83       ; shared alias of RAM
        dq SHARED + 0xc0000000 + 0x83       ; MMIO
        dq 0x00200000 + 0x83                ; private, no memslot
        times 509 dq 0
pd3:    times 511 dq 0
        dq 0xffe00000 + 0x83                ; this image

; ---- GDT and descriptors (0xffff5000) ----------------------------------------------------------
gdt:    dq 0
        dq 0x00af9b000000ffff               ; 0x08: 64-bit code
        dq 0x00cf93000000ffff               ; 0x10: data
gdt_end:
gdt_desc:
        dw gdt_end - gdt - 1
        dq gdt
idt_desc:
        dw 256 * 16 - 1
        dq idt

; ---- IDT (0xffff6000): #VE and the fatal exceptions ------------------------------------------
times 0x6000 - ($ - $$) db 0
idt:
%macro GATE 1
        dw ((%1) - $$ + 0xffff0000) & 0xffff
        dw 0x08
        dw 0x8e00
        dw (((%1) - $$ + 0xffff0000) >> 16) & 0xffff
        dd 0xffffffff & (((%1) - $$ + 0xffff0000) >> 32)
        dd 0
%endmacro
%assign v 0
%rep 256
  %if v == 20
        GATE ve_handler
  %elif v == 6
        GATE exc_ud
  %elif v == 8
        GATE exc_df
  %elif v == 13
        GATE exc_gp
  %elif v == 14
        GATE exc_pf
  %else
        GATE exc_other
  %endif
  %assign v v + 1
%endrep

; ---- code (0xffff8000) ------------------------------------------------------------------------
times 0x8000 - ($ - $$) db 0
start32:
        lgdt [gdt_desc]
        mov eax, cr4
        or eax, 0x20                        ; PAE
        mov cr4, eax
        mov eax, pml4
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000                  ; PG: long mode (EFER.LME is set at TD reset)
        mov cr0, eax
        jmp dword 0x08:long_entry

bits 64
default rel

; io_out port, size, value (register or immediate): TDG.VP.VMCALL<Instruction.IO> write
%macro IO_OUT 3
        mov r15, %3
        mov r14, %1
        mov r12, %2
        mov r13, 1
        mov r11, 30
        xor r10, r10
        mov ecx, 0xfc00
        xor eax, eax
        TDCALL
%endmacro

%macro REPORT 1
        IO_OUT REPORT_PORT, 4, %1
%endmacro

; TDG.VP.VMCALL<leaf> with r12/r13 set by the caller; exposes R10-R15
%macro VMCALL_LEAF 1
        mov r11, %1
        xor r10, r10
        mov ecx, 0xfc00
        xor eax, eax
        TDCALL
%endmacro

long_entry:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        lidt [idt_desc]
        cmp r8, 1
        je vcpu1
        cmp r8, 2
        je touch_unaccepted
        cmp r8, 3
        je touch_noslot
        cmp r8, 4
        je probe

        ; ---- 1. TDG.VP.INFO ----
        mov eax, 1
        TDCALL
        mov rbx, rdx
        REPORT rcx                          ; GPAW
        REPORT rbx                          ; ATTRIBUTES (low 32 bits)

        ; ---- 2. accept the stack page, then the data pages 0x100000-0x103fff ----
        mov rcx, 0x1ef000
        mov eax, 6
        TDCALL
        REPORT rax                          ; 0: accepted after KVM's AUG
        mov rsp, 0x1f0000
        mov rbx, 0x100000
.accept:
        mov rcx, rbx
        mov eax, 6
        TDCALL
        test rax, rax
        jnz fail
        add rbx, 0x1000
        cmp rbx, 0x104000
        jb .accept
        ; private secret in the four pages
        mov rdi, 0x100000
        mov rax, 0x5ec2e75ec2e75ec2
        mov ecx, 0x4000 / 8
        rep stosq
        ; accepting again: TDX_PAGE_ALREADY_ACCEPTED
        mov rcx, 0x100000
        mov eax, 6
        TDCALL
        shr rax, 32
        REPORT rax                          ; 0xb0a

        ; ---- 3. port IO through TDG.VP.VMCALL<Instruction.IO> ----
        IO_OUT 0x80, 1, 0x42
        mov r14, 0x81                       ; IN word from port 0x81
        mov r12, 2
        xor r13, r13
        VMCALL_LEAF 30
        REPORT r11

        ; ---- 4. port IO through #VE ----
        mov al, 0x77
        out 0x82, al
        in al, 0x83
        movzx eax, al
        REPORT rax

        ; ---- 5. MMIO through TDG.VP.VMCALL<#VE.RequestMMIO> ----
        mov r12, 4
        mov r13, 1
        mov r14, SHARED + 0xc0000000
        mov r15, 0xcafebabe
        VMCALL_LEAF 48
        mov r12, 8
        xor r13, r13
        mov r14, SHARED + 0xc0000008
        VMCALL_LEAF 48
        mov rbx, r11
        REPORT rbx
        shr rbx, 32
        REPORT rbx

        ; ---- 6. MMIO through #VE (EPT violation with suppress-#VE clear) ----
        mov rbx, 0x40200010
        mov eax, 0xd00dfeed
        mov [rbx], eax                      ; 89 03
        mov eax, [rbx]                      ; 8b 03
        REPORT rax

        ; ---- 7. CPUID: native leaf, TDVMCALL leaf and #VE leaf ----
        xor eax, eax
        xor ecx, ecx
        cpuid
        REPORT rbx                          ; "Genu" (virtualized by the TDX module)
        mov r12, 0x40000000
        xor r13, r13
        VMCALL_LEAF 10
        REPORT r13                          ; "KVMK" from KVM_SET_CPUID2
        mov eax, 0x40000000
        xor ecx, ecx
        cpuid                               ; #VE(CPUID) -> TDVMCALL<CPUID>
        REPORT rbx

        ; ---- 8. MSRs: TDVMCALL<RDMSR> and RDMSR through #VE ----
        mov r12, 0x1b
        VMCALL_LEAF 31
        REPORT r11                          ; IA32_APIC_BASE as KVM emulates it
        mov ecx, 0x1a0
        rdmsr                               ; #VE(MSR_READ) -> TDVMCALL<RDMSR>
        REPORT rax

        ; ---- 9. GetTdVmCallInfo(1) -> KVM_EXIT_TDX ----
        mov r12, 1
        VMCALL_LEAF 0x10000
        mov rbx, r11
        REPORT r10
        REPORT rbx

        ; ---- 10. SetupEventNotifyInterrupt -> KVM_EXIT_TDX ----
        mov r12, 0xec
        VMCALL_LEAF 0x10004
        REPORT r10

        ; ---- 11. MapGPA private -> shared of 0x100000-0x102fff ----
        mov r12, SHARED + 0x100000
        mov r13, 0x3000
        VMCALL_LEAF 0x10001
        REPORT r10
        ; write a message through the shared alias (linear 0x40000000 + gpa)
        mov rdi, 0x40100000
        mov rax, 0x4f4c4c4548               ; "HELLO"
        mov [rdi], rax

        ; ---- 12. GetQuote on the shared page -> KVM_EXIT_TDX ----
        mov r12, SHARED + 0x100000
        mov r13, 0x1000
        VMCALL_LEAF 0x10002
        REPORT r10
        mov rdi, 0x40100000
        mov eax, [rdi + 16]                 ; what the VMM wrote into the quote buffer
        REPORT rax

        ; ---- 13. implicit conversions: KVM_EXIT_MEMORY_FAULT, the VMM converts, the access retries ----
        mov rdi, 0x1c0000                   ; private access to a page the VMM left shared
        mov dword [rdi], 0x11111111         ; -> memory fault (PRIVATE); VMM converts; #VE pending; accept
        mov eax, [rdi]
        REPORT rax
        mov rdi, 0x40000000 + 0x1d0000      ; shared access to a private page
        mov dword [rdi], 0x22222222         ; -> memory fault (shared); VMM converts to shared
        mov eax, [rdi]
        REPORT rax

        ; ---- 14. a never-accepted private page: #VE (pending), the handler accepts, the access retries ----
        mov rdi, 0x180000
        mov eax, [rdi]                      ; reads 0 (accept zeroes the page)
        REPORT rax

        ; ---- 15. ReportFatalError, then halt ----
        mov r12, 0xdead
        mov r13, 0
        mov rbx, 0xb0b
        mov r11, 0x10003
        xor r10, r10
        mov ecx, 0xffcc                     ; expose RDX RBX RSI RDI R8-R15
        xor eax, eax
        TDCALL
        ; resumed after the fatal-error exit: HLT through #VE
        hlt
        REPORT 0x600d
        jmp fail

vcpu1:
        mov rbx, rsi                        ; vCPU index (TDH.VP.INIT put it in RSI)
.loop:
        IO_OUT 0xe1, 4, rbx
        jmp .loop

touch_unaccepted:
        mov rcx, 0x1ef000                   ; the #VE handler needs a stack
        mov eax, 6
        TDCALL
        mov rsp, 0x1f0000
        mov rdi, 0x180000
        mov eax, [rdi]
        jmp fail

touch_noslot:
        mov rdi, 0x40400000                 ; private GPA 0x200000: no memslot
        mov eax, [rdi]
        jmp fail

probe:
        mov rbp, probe_table
.next:
        mov rax, [rbp]
        cmp rax, -1
        je .end
        mov rcx, [rbp + 8]
        mov rdx, [rbp + 16]
        mov r8, [rbp + 24]
        mov r10, [rbp + 32]
        mov r11, [rbp + 40]
        mov r12, [rbp + 48]
        mov r13, [rbp + 56]
        mov r14, [rbp + 64]
        mov r15, [rbp + 72]
        TDCALL
        mov rbx, rax
        mov rsi, r10
        mov rdi, r11
        IO_OUT 0xe2, 4, rbx
        shr rbx, 32
        IO_OUT 0xe2, 4, rbx
        IO_OUT 0xe2, 4, rsi
        shr rsi, 32
        IO_OUT 0xe2, 4, rsi
        IO_OUT 0xe2, 4, rdi
        shr rdi, 32
        IO_OUT 0xe2, 4, rdi
        add rbp, 80
        jmp .next
.end:
        IO_OUT 0xe2, 4, 0xe2e2e2e2
        jmp fail

fail:
        mov r12, 0xfa11
        mov r11, 0x10003
        xor r10, r10
        mov ecx, 0xfc00
        xor eax, eax
        TDCALL
        jmp fail

; ---- #VE handler: TDG.VP.VEINFO.GET, then emulate with TDG.VP.VMCALL ----
; Saved frame: 15 GPRs (rax at the top), then RIP, CS, RFLAGS, RSP, SS.
%define F_RAX 14*8
%define F_RCX 13*8
%define F_RDX 12*8
%define F_RBX 11*8
%define F_RIP 15*8
ve_handler:
        push rax
        push rcx
        push rdx
        push rbx
        push rbp
        push rsi
        push rdi
        push r8
        push r9
        push r10
        push r11
        push r12
        push r13
        push r14
        push r15
        mov eax, 3                          ; TDG.VP.VEINFO.GET
        TDCALL
        test rax, rax
        jnz .fatal
        mov rbp, r10
        and ebp, 0xffffffff                 ; instruction length
        cmp ecx, 30
        je .io
        cmp ecx, 48
        je .ept
        cmp ecx, 10
        je .cpuid
        cmp ecx, 31
        je .rdmsr
        cmp ecx, 12
        je .hlt
        jmp .fatal
.io:
        mov r14, rdx
        shr r14, 16                         ; port
        mov r12, rdx
        and r12, 7
        inc r12                             ; size
        test edx, 8
        jnz .io_in
        mov r15, [rsp + F_RAX]
        mov r13, 1
        VMCALL_LEAF 30
        jmp .skip
.io_in:
        xor r13, r13
        VMCALL_LEAF 30
        mov rax, [rsp + F_RAX]
        mov al, r11b                        ; (byte INs only here)
        mov [rsp + F_RAX], rax
        jmp .skip
.cpuid:
        mov r12, [rsp + F_RAX]
        mov r13, [rsp + F_RCX]
        VMCALL_LEAF 10
        mov [rsp + F_RAX], r12
        mov [rsp + F_RBX], r13
        mov [rsp + F_RCX], r14
        mov [rsp + F_RDX], r15
        jmp .skip
.rdmsr:
        mov r12, [rsp + F_RCX]
        VMCALL_LEAF 31
        mov eax, r11d
        mov [rsp + F_RAX], rax
        shr r11, 32
        mov [rsp + F_RDX], r11
        jmp .skip
.hlt:
        xor r12, r12
        VMCALL_LEAF 12
        jmp .skip
.ept:
        bt r9, 47
        jc .mmio
        ; a pending private page: accept it and retry the access
        mov rcx, r9
        and rcx, ~0xfff
        mov eax, 6
        TDCALL
        jmp .ret
.mmio:
        ; decode the faulting instruction: 89 03 (mov [rbx], eax) or 8b 03 (mov eax, [rbx])
        mov rsi, [rsp + F_RIP]
        movzx eax, word [rsi]
        mov r14, r9                         ; the shared GPA
        mov r12, 4
        mov ebp, 2
        cmp eax, 0x0389
        je .mmio_w
        cmp eax, 0x038b
        je .mmio_r
        jmp .fatal
.mmio_w:
        mov r15, [rsp + F_RAX]
        mov r13, 1
        VMCALL_LEAF 48
        jmp .skip
.mmio_r:
        xor r13, r13
        VMCALL_LEAF 48
        mov eax, r11d
        mov [rsp + F_RAX], rax
        jmp .skip
.skip:
        add [rsp + F_RIP], rbp
.ret:
        pop r15
        pop r14
        pop r13
        pop r12
        pop r11
        pop r10
        pop r9
        pop r8
        pop rdi
        pop rsi
        pop rbp
        pop rbx
        pop rdx
        pop rcx
        pop rax
        iretq
.fatal:
        mov r12, 0xbad00000
        or r12, rcx
        jmp fatal

exc_ud:
        mov r12, 0xe0000006
        jmp fatal
exc_df:
        mov r12, 0xe0000008
        jmp fatal
exc_gp:
        mov r12, 0xe000000d
        jmp fatal
exc_pf:
        mov r12, 0xe000000e
        jmp fatal
exc_other:
        mov r12, 0xe00000ff
fatal:
        mov r13, [rsp]
        mov r11, 0x10003                    ; ReportFatalError
        xor r10, r10
        mov ecx, 0xfc00
        xor eax, eax
        TDCALL
        jmp fatal

; ---- probe table (0xffffc000): filled in by the test before KVM_TDX_INIT_MEM_REGION ----------
times 0xc000 - ($ - $$) db 0
probe_table:
        dq -1

; ---- reset vector (0xfffffff0) ----------------------------------------------------------------
bits 32
times 0xfff0 - ($ - $$) db 0
        jmp start32
times 0x10000 - ($ - $$) db 0xf4
