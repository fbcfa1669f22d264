; The mini-VMM's interrupt-driven devices (test/mini-vmm/devices.test.ts), as a flat image the
; mini-VMM loads at 1 MiB and enters in long mode (`vkvm run --irqchip kernel --virtio-rng`):
;   - its own page tables: the identity map of the first GiB (user-accessible) and of the device
;     window at 3 GiB, and the kernel half (supervisor only): HIGH + x maps gpa x, so the local
;     APIC is at 0xfffffffffee00000, the IOAPIC at 0xfffffffffec00000, the virtio-mmio window at
;     0xffffffffd0000000; the kernel runs there, with its GDT, TSS (RSP0) and IDT;
;   - the 16550 at COM1 on IOAPIC pin 4 (edge, vector 0x24), interrupt-driven both ways: output
;     goes through a ring the THR-empty interrupt drains (up to 16 bytes a time, the FIFO's size);
;     input is taken by the received-data interrupt into a line buffer (the ISR stops taking input
;     at a newline by clearing IER.ERBFI, so the next line waits in the FIFO); the ISR reads IIR
;     until it says "no interrupt" (the pin is edge-triggered) and records every IIR it sees;
;   - a virtio-rng on virtio-mmio (modern, version 2) on pin 5 (edge, vector 0x25): the driver
;     negotiates VIRTIO_F_VERSION_1, sets up one 8-entry split virtqueue, posts one device-writable
;     buffer per request and writes QueueNotify (the VMM's ioeventfd: no exit); the ISR reads
;     InterruptStatus and writes it to InterruptACK; the main code waits in HLT for each used buffer.
;     After each notify the kernel prints a line: that exit is where a single-threaded VMM on
;     /dev/kvm (where a halted vCPU stays in KVM_RUN) serves the ioeventfd;
;   - then CPL3 (IOPL 3): re-enables the received-data interrupt (the second line waits in the
;     FIFO), posts and notifies a last rng request through the identity map, and polls LSR (an
;     exit each time) until both interrupts -- each taken by its kernel-half ISR and returned from
;     with IRETQ to CPL3 -- are counted; INT 0x80 goes back to the kernel.
; Results (OUT 0x500, 32 bits each): magic, version, device id, device features 63:32, status
; after FEATURES_OK, QueueNumMax; per request its used id, used length, then its bytes as
; little-endian words; then the UART ISR count (and from CPL3), the rng ISR count (and from
; CPL3), the mask of IIR values seen (bit n: IIR & 0xf == n), the OR of InterruptStatus seen, the
; input bytes, the CS the last CPL3 interrupt came from. Exit status 0 (port 0xf4), or
; 0x100 + vector after an exception.
bits 64
default abs
org 0x100000

HIGH    equ 0xffffffff80000000
PML4    equ 0x300000
PDPT_LO equ 0x301000
PDPT_HI equ 0x302000
PD0     equ 0x303000
PD3     equ 0x304000
GDT     equ 0x305000
TSS     equ 0x305100
IDT     equ 0x306000
DATA    equ 0x310000
DESC    equ 0x320000
AVAIL   equ 0x320800
USED    equ 0x321000
BUF     equ 0x322000
TXRING  equ 0x330000
RXBUF   equ 0x331000
USTACK  equ 0x3e0000
KSTACK  equ 0x3f0000
APIC    equ 0xfffffffffee00000
IOAPIC  equ 0xfffffffffec00000
VIRTIO  equ 0xffffffffd0000000
VIRTIO_USER equ 0xd0000000
COM1    equ 0x3f8
RESULT  equ 0x500
EXITP   equ 0xf4
QSIZE   equ 8
NREQ    equ 4               ; kernel requests; one more from CPL3

; DATA layout (qwords)
UART_IRQS   equ DATA + 0x00
UART_UIRQS  equ DATA + 0x08
RNG_IRQS    equ DATA + 0x10
RNG_UIRQS   equ DATA + 0x18
IIR_SEEN    equ DATA + 0x20
ISR_SEEN    equ DATA + 0x28
RX_COUNT    equ DATA + 0x30
RX_LINES    equ DATA + 0x38
TX_HEAD     equ DATA + 0x40
TX_TAIL     equ DATA + 0x48
TX_ON       equ DATA + 0x50
USER_CS     equ DATA + 0x58
RX_SHOWN    equ DATA + 0x60

SEL_KCODE equ 0x08
SEL_KDATA equ 0x10
SEL_UDATA equ 0x1b
SEL_UCODE equ 0x23
SEL_TSS   equ 0x28

%macro RESULT_EAX 0
    mov dx, RESULT
    out dx, eax
%endmacro

; WAIT_GE addr, value: halt until the qword at HIGH + addr is >= value
%macro WAIT_GE 2
%%w:
    cli
    cmp qword [HIGH + %1], %2
    jae %%d
    sti
    hlt
    jmp %%w
%%d:
    sti
%endmacro

; PUTS "text": through the interrupt-driven console
%macro PUTS 1
    jmp %%over
%%s: db %1, 0
%%over:
    mov rsi, HIGH + %%s
    call kputs
%endmacro

; SET_GATE vector, handler, type
%macro SET_GATE 3
    mov rax, HIGH + %2
    mov rdi, HIGH + IDT + (%1) * 16
    mov [rdi], ax
    mov word [rdi + 2], SEL_KCODE
    mov byte [rdi + 4], 0
    mov byte [rdi + 5], %3
    shr rax, 16
    mov [rdi + 6], ax
    shr rax, 16
    mov [rdi + 8], eax
    mov dword [rdi + 12], 0
%endmacro

; IOAPIC_SET pin, low: a redirection entry to APIC 0 (the unmasking low dword last)
%macro IOAPIC_SET 2
    mov dword [IOAPIC], 0x11 + 2 * (%1)
    mov dword [IOAPIC + 0x10], 0
    mov dword [IOAPIC], 0x10 + 2 * (%1)
    mov dword [IOAPIC + 0x10], %2
%endmacro

start:
    ; Page tables (all of them in the first GiB, still reached through the VMM's identity map).
    mov rdi, PML4
    xor eax, eax
    mov ecx, 5 * 4096 / 8
    rep stosq
    mov qword [PML4], PDPT_LO | 7
    mov qword [PML4 + 511 * 8], PDPT_HI | 3         ; the kernel half: supervisor only
    mov qword [PDPT_LO], PD0 | 7
    mov qword [PDPT_LO + 3 * 8], PD3 | 7
    mov qword [PDPT_HI + 510 * 8], PD0 | 3
    mov qword [PDPT_HI + 511 * 8], PD3 | 3
    mov rdi, PD0
    mov eax, 0x87                                   ; P RW U PS
    mov ecx, 512
.pd0:
    stosq
    add rax, 0x200000
    loop .pd0
    mov eax, 0xd0000000 | 0x9f                      ; virtio-mmio: P RW U PWT PCD PS
    mov [PD3 + 0x080 * 8], rax
    mov eax, 0xfec00000 | 0x9b                      ; IOAPIC, LAPIC: supervisor
    mov [PD3 + 0x1f6 * 8], rax
    mov eax, 0xfee00000 | 0x9b
    mov [PD3 + 0x1f7 * 8], rax
    mov rax, PML4
    mov cr3, rax
    mov rax, HIGH + high
    jmp rax

high:
    mov rsp, HIGH + KSTACK
    ; GDT: kernel code/data, user data/code, the TSS.
    mov rdi, HIGH + GDT
    mov qword [rdi], 0
    mov rax, 0x00af9b000000ffff
    mov [rdi + 0x08], rax
    mov rax, 0x00cf93000000ffff
    mov [rdi + 0x10], rax
    mov rax, 0x00cff3000000ffff
    mov [rdi + 0x18], rax
    mov rax, 0x00affb000000ffff
    mov [rdi + 0x20], rax
    mov rax, 0x8000893051000067                     ; TSS at HIGH + TSS, limit 0x67
    mov [rdi + 0x28], rax
    mov eax, 0xffffffff                             ; base 63:32; the upper dword stays 0
    mov [rdi + 0x30], rax
    mov rax, HIGH + KSTACK
    mov [HIGH + TSS + 4], rax
    lgdt [HIGH + gdtr]
    push SEL_KCODE
    mov rax, HIGH + .cs
    push rax
    retfq
.cs:
    mov ax, SEL_KDATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov ax, SEL_TSS
    ltr ax
    ; IDT: exceptions, the two device vectors, INT 0x80 from CPL3, the spurious vector.
%assign v 0
%rep 32
    SET_GATE v, exc %+ v, 0x8e
%assign v v + 1
%endrep
    SET_GATE 0x24, isr_uart, 0x8e
    SET_GATE 0x25, isr_virtio, 0x8e
    SET_GATE 0x80, user_done, 0xee
    SET_GATE 0xff, isr_spurious, 0x8e
    lidt [HIGH + idtr]

    ; Interrupt controllers: both 8259s masked, the LAPIC enabled, pins 4 and 5 edge-triggered.
    mov al, 0xff
    out 0x21, al
    out 0xa1, al
    mov dword [APIC + 0xf0], 0x1ff
    IOAPIC_SET 4, 0x24
    IOAPIC_SET 5, 0x25

    ; The 16550: 115200 8N1, FIFO on (without clearing what arrived already), OUT2 (the IRQ
    ; gate), received-data interrupt on.
    mov dx, COM1 + 3
    mov al, 0x80
    out dx, al
    mov dx, COM1
    mov al, 1
    out dx, al
    mov dx, COM1 + 1
    xor al, al
    out dx, al
    mov dx, COM1 + 3
    mov al, 3
    out dx, al
    mov dx, COM1 + 2
    mov al, 1
    out dx, al
    mov dx, COM1 + 4
    mov al, 0x0b
    out dx, al
    mov dx, COM1 + 1
    mov al, 1
    out dx, al
    sti

    PUTS `vmm devices: x86-64, kernel half\n`
    ; The first input line, then its echo.
    WAIT_GE RX_LINES, 1
    call show_rx

    ; virtio-rng: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK, the queue, DRIVER_OK.
    mov eax, [VIRTIO + 0x00]
    RESULT_EAX
    mov eax, [VIRTIO + 0x04]
    RESULT_EAX
    mov eax, [VIRTIO + 0x08]
    RESULT_EAX
    mov dword [VIRTIO + 0x70], 0
    mov dword [VIRTIO + 0x70], 1
    mov dword [VIRTIO + 0x70], 3
    mov dword [VIRTIO + 0x14], 1                     ; DeviceFeaturesSel: bits 63:32
    mov eax, [VIRTIO + 0x10]
    RESULT_EAX
    mov dword [VIRTIO + 0x24], 1                     ; DriverFeaturesSel 1: VIRTIO_F_VERSION_1
    and eax, 1
    mov [VIRTIO + 0x20], eax
    mov dword [VIRTIO + 0x24], 0
    mov dword [VIRTIO + 0x20], 0
    mov dword [VIRTIO + 0x70], 0xb                   ; FEATURES_OK
    mov eax, [VIRTIO + 0x70]
    RESULT_EAX
    mov dword [VIRTIO + 0x30], 0                     ; QueueSel 0
    mov eax, [VIRTIO + 0x34]
    RESULT_EAX
    mov dword [VIRTIO + 0x38], QSIZE
    mov dword [VIRTIO + 0x80], DESC
    mov dword [VIRTIO + 0x84], 0
    mov dword [VIRTIO + 0x90], AVAIL
    mov dword [VIRTIO + 0x94], 0
    mov dword [VIRTIO + 0xa0], USED
    mov dword [VIRTIO + 0xa4], 0
    mov dword [VIRTIO + 0x44], 1                     ; QueueReady
    mov dword [VIRTIO + 0x70], 0xf                   ; DRIVER_OK
    PUTS `virtio-rng ready\n`

    xor ebx, ebx                                    ; request number
.req:
    mov rdi, HIGH
    call post_request
    mov dword [VIRTIO + 0x50], 0                     ; QueueNotify: the ioeventfd
    PUTS `rng request\n`
    lea rax, [rbx + 1]
.wait:
    cli
    cmp [HIGH + RNG_IRQS], rax
    jae .got
    sti
    hlt
    jmp .wait
.got:
    sti
    call report_request
    inc ebx
    cmp ebx, NREQ
    jb .req

    ; Drain the output before CPL3 (its interrupts then come from the input and the rng only).
    call flush
    push SEL_UDATA
    push USTACK
    push 0x3202                                     ; IF, IOPL 3
    push SEL_UCODE
    push user
    iretq

; CPL3, at identity addresses.
user:
    mov dx, COM1 + 1                                ; received-data interrupt on again
    in al, dx
    or al, 1
    out dx, al
    mov ebx, NREQ
    xor edi, edi                                    ; identity addresses
    call post_request
    mov eax, VIRTIO_USER + 0x50
    mov dword [rax], 0                              ; QueueNotify from CPL3: the ioeventfd
.poll:
    mov dx, COM1 + 5                                ; LSR: an exit the VMM serves its devices at
    in al, dx
    cmp qword [RNG_IRQS], NREQ + 1
    jb .poll
    cmp qword [RX_LINES], 2
    jb .poll
    int 0x80

; INT 0x80 (DPL 3): the kernel again, for the report.
user_done:
    mov rsp, HIGH + KSTACK
    call report_request
    call show_rx
    mov eax, [HIGH + UART_IRQS]
    RESULT_EAX
    mov eax, [HIGH + UART_UIRQS]
    RESULT_EAX
    mov eax, [HIGH + RNG_IRQS]
    RESULT_EAX
    mov eax, [HIGH + RNG_UIRQS]
    RESULT_EAX
    mov eax, [HIGH + IIR_SEEN]
    RESULT_EAX
    mov eax, [HIGH + ISR_SEEN]
    RESULT_EAX
    mov eax, [HIGH + RX_COUNT]
    RESULT_EAX
    mov eax, [HIGH + USER_CS]
    RESULT_EAX
    PUTS `interrupts taken from CPL3: uart `
    mov rax, [HIGH + UART_UIRQS]
    call kputdec
    PUTS `, rng `
    mov rax, [HIGH + RNG_UIRQS]
    call kputdec
    PUTS `\ndone\n`
    call flush
    xor eax, eax
    out EXITP, eax
    jmp $

; post_request: request ebx into descriptor ebx (4 * (ebx + 1) bytes at BUF + 64 * ebx), added to
; the available ring; rdi = the address offset of the rings (HIGH, or 0 at CPL3).
post_request:
    mov eax, ebx
    shl eax, 4
    lea rsi, [rdi + DESC + rax]
    mov eax, ebx
    shl eax, 6
    add eax, BUF
    mov [rsi], rax                                  ; addr
    lea eax, [rbx * 4 + 4]
    mov [rsi + 8], eax                              ; len
    mov word [rsi + 12], 2                          ; VIRTQ_DESC_F_WRITE
    mov word [rsi + 14], 0
    movzx eax, word [rdi + AVAIL + 2]
    mov ecx, eax
    and ecx, QSIZE - 1
    mov [rdi + AVAIL + 4 + rcx * 2], bx
    inc eax
    mov [rdi + AVAIL + 2], ax                       ; avail.idx, after the entry (x86 stores are ordered)
    ret

; report_request: used.ring[ebx] (id, len) and the bytes of buffer ebx, to the result port.
report_request:
    movzx eax, word [HIGH + USED + 2]               ; used.idx
    lea ecx, [rbx + 1]
    cmp eax, ecx
    jne .bad
    mov eax, [HIGH + USED + 4 + rbx * 8]            ; id
    RESULT_EAX
    mov r8d, [HIGH + USED + 8 + rbx * 8]            ; len
    mov eax, r8d
    RESULT_EAX
    mov esi, ebx
    shl esi, 6
    mov rax, HIGH + BUF
    add rsi, rax
    shr r8d, 2
.w:
    test r8d, r8d
    jz .done
    mov eax, [rsi]
    RESULT_EAX
    add rsi, 4
    dec r8d
    jmp .w
.done:
    ret
.bad:
    mov eax, 0xbad0000
    or eax, ecx
    RESULT_EAX
    ret

; show_rx: prints the input received since the last call as "rx: <text>".
show_rx:
    PUTS `rx: `
.l:
    mov rcx, [HIGH + RX_SHOWN]
    cmp rcx, [HIGH + RX_COUNT]
    jae .e
    movzx eax, byte [HIGH + RXBUF + rcx]
    inc qword [HIGH + RX_SHOWN]
    call kputc
    jmp .l
.e:
    ret

; flush: waits until the THR-empty interrupt has sent the whole ring.
flush:
    cli
    mov rax, [HIGH + TX_HEAD]
    cmp rax, [HIGH + TX_TAIL]
    je .e
    sti
    hlt
    jmp flush
.e:
    sti
    ret

; kputs: the NUL-terminated string at rsi, queued with interrupts off (then sent in bursts).
kputs:
    pushfq
    cli
.l:
    movzx eax, byte [rsi]
    test al, al
    jz .e
    call kputc
    inc rsi
    jmp .l
.e:
    popfq
    ret

; kputdec: rax in decimal.
kputdec:
    push rbx
    mov rbx, rsp
    sub rsp, 32
    mov rcx, 10
.d:
    xor edx, edx
    div rcx
    add dl, '0'
    dec rbx
    mov [rbx], dl
    test rax, rax
    jnz .d
.p:
    cmp rbx, rsp
    jb .x
    lea rax, [rsp + 32]
    cmp rbx, rax
    jae .x
    movzx eax, byte [rbx]
    call kputc
    inc rbx
    jmp .p
.x:
    add rsp, 32
    pop rbx
    ret

; kputc: al into the output ring; the first byte of a burst turns the THR-empty interrupt on.
kputc:
    push rcx
    push rdx
    pushfq
    cli
    mov rcx, [HIGH + TX_TAIL]
    and ecx, 0xfff
    mov [HIGH + TXRING + rcx], al
    inc qword [HIGH + TX_TAIL]
    cmp qword [HIGH + TX_ON], 0
    jne .on
    mov qword [HIGH + TX_ON], 1
    mov dx, COM1 + 1
    in al, dx
    or al, 2
    out dx, al
.on:
    popfq
    pop rdx
    pop rcx
    ret

; The 16550's interrupt: IIR until "no interrupt pending".
isr_uart:
    push rax
    push rcx
    push rdx
    push rsi
    inc qword [HIGH + UART_IRQS]
    mov rax, [rsp + 40]                             ; the interrupted CS
    test al, 3
    jz .loop
    inc qword [HIGH + UART_UIRQS]
    mov [HIGH + USER_CS], rax
.loop:
    mov dx, COM1 + 2
    in al, dx
    movzx ecx, al
    and ecx, 0x0f
    bts qword [HIGH + IIR_SEEN], rcx
    test al, 1
    jnz .done
    and al, 0x0e
    cmp al, 0x04
    je .rx
    cmp al, 0x0c
    je .rx
    cmp al, 0x02
    je .tx
    jmp .loop
.rx:
    mov dx, COM1 + 5
    in al, dx
    test al, 1
    jz .loop
    mov dx, COM1
    in al, dx
    mov rcx, [HIGH + RX_COUNT]
    and ecx, 0xfff
    mov [HIGH + RXBUF + rcx], al
    inc qword [HIGH + RX_COUNT]
    cmp al, 10
    jne .rx
    inc qword [HIGH + RX_LINES]                     ; a whole line: take no more input for now
    mov dx, COM1 + 1
    in al, dx
    and al, ~1
    out dx, al
    jmp .loop
.tx:
    mov esi, 16                                     ; the transmit FIFO's size
.txl:
    mov rcx, [HIGH + TX_HEAD]
    cmp rcx, [HIGH + TX_TAIL]
    je .txoff
    and ecx, 0xfff
    mov al, [HIGH + TXRING + rcx]
    mov dx, COM1
    out dx, al
    inc qword [HIGH + TX_HEAD]
    dec esi
    jnz .txl
    jmp .loop
.txoff:
    mov qword [HIGH + TX_ON], 0
    mov dx, COM1 + 1
    in al, dx
    and al, ~2
    out dx, al
    jmp .loop
.done:
    mov dword [APIC + 0xb0], 0
    pop rsi
    pop rdx
    pop rcx
    pop rax
    iretq

; The virtio-rng's used-buffer interrupt: read InterruptStatus, acknowledge it.
isr_virtio:
    push rax
    inc qword [HIGH + RNG_IRQS]
    mov rax, [rsp + 16]                             ; the interrupted CS
    test al, 3
    jz .k
    inc qword [HIGH + RNG_UIRQS]
    mov [HIGH + USER_CS], rax
.k:
    mov eax, [VIRTIO + 0x60]
    or [HIGH + ISR_SEEN], rax
    mov [VIRTIO + 0x64], eax
    mov dword [APIC + 0xb0], 0
    pop rax
    iretq

isr_spurious:
    iretq

; Exceptions: report 0x100 + vector as the exit status.
%assign v 0
%rep 32
exc %+ v:
    mov eax, 0x100 + v
    jmp exception
%assign v v + 1
%endrep
exception:
    out EXITP, eax
    jmp $

gdtr:
    dw 0x37
    dq HIGH + GDT
idtr:
    dw 256 * 16 - 1
    dq HIGH + IDT
