; SMP spinlock + counters guest (64-bit, flat, identity-mapped; see test/smp/).
; Every vCPU runs this with:
;   RDI = iterations, RSI = base of the shared data (page aligned, 2 pages),
;   RDX = mode (0: XCHG spinlock, 1: LOCK CMPXCHG spinlock, 2: no lock, 3: LOCK BTS/BTR bit lock),
;   R8  = this vCPU's index, RBP = number of vCPUs (the start barrier waits for all of them),
;   R10 = 1 to leave out the split-lock counter (hosts with split_lock_detect=fatal #AC on it).
; Per iteration: take the lock (counting failed attempts), increment a plain counter with an
; ordinary load/add/store, release; then bump atomic counters with every kind of locked RMW.
; Ends with HLT.
bits 64
org 0x8000

LOCKW   equ 0x000   ; the spinlock (dword)
ARRIVED equ 0x008   ; start barrier (qword)
PLAIN   equ 0x040   ; plain counter, under the lock (qword)
XADD64  equ 0x080   ; LOCK XADD (qword)
INC32   equ 0x0c0   ; LOCK INC (dword)
ADD16   equ 0x100   ; LOCK ADD (word)
SUB64   equ 0x140   ; LOCK SUB (qword, counts down)
CAS64   equ 0x180   ; LOCK CMPXCHG increment loop (qword)
C8B     equ 0x1c0   ; LOCK CMPXCHG8B increment loop (qword)
UNALIGN equ 0x301   ; LOCK INC of an unaligned qword (inside the page)
FAILS   equ 0x400   ; failed lock attempts, one qword per vCPU
SPLIT   equ 0xffe   ; LOCK ADD of a dword crossing into the second page

start:
    lock inc qword [rsi + ARRIVED]
.barrier:
    cmp [rsi + ARRIVED], rbp
    jae .go
    pause
    jmp .barrier
.go:
    mov r9, rdx                     ; mode
.loop:
    cmp r9, 2
    je .locked                      ; mode 2: no lock
    cmp r9, 1
    je .spin_cmpxchg
    cmp r9, 3
    je .spin_bts
.spin_xchg:
    mov eax, 1
    xchg eax, [rsi + LOCKW]         ; implicitly locked
    test eax, eax
    jz .locked
    inc qword [rsi + FAILS + r8 * 8]
.wait_xchg:
    pause
    cmp dword [rsi + LOCKW], 0
    jne .wait_xchg
    jmp .spin_xchg
.spin_cmpxchg:
    xor eax, eax
    mov ecx, 1
    lock cmpxchg [rsi + LOCKW], ecx
    jz .locked
    inc qword [rsi + FAILS + r8 * 8]
    pause
    jmp .spin_cmpxchg
.spin_bts:
    lock bts dword [rsi + LOCKW], 0
    jnc .locked
    inc qword [rsi + FAILS + r8 * 8]
    pause
    jmp .spin_bts
.locked:
    mov rax, [rsi + PLAIN]          ; the critical section: a plain, non-atomic increment
    inc rax
    mov [rsi + PLAIN], rax
    cmp r9, 2
    je .atomics
    cmp r9, 3
    je .release_btr
    mov dword [rsi + LOCKW], 0      ; release: a plain store
    jmp .atomics
.release_btr:
    lock btr dword [rsi + LOCKW], 0
.atomics:
    mov eax, 1
    lock xadd [rsi + XADD64], rax
    lock inc dword [rsi + INC32]
    lock add word [rsi + ADD16], 1
    lock sub qword [rsi + SUB64], 1
.cas:
    mov rax, [rsi + CAS64]
    lea rcx, [rax + 1]
    lock cmpxchg [rsi + CAS64], rcx
    jnz .cas
.c8b:
    mov eax, [rsi + C8B]
    mov edx, [rsi + C8B + 4]
    mov ebx, eax
    mov ecx, edx
    add ebx, 1
    adc ecx, 0
    lock cmpxchg8b [rsi + C8B]
    jnz .c8b
    lock inc qword [rsi + UNALIGN]
    test r10, r10
    jnz .next
    lock add dword [rsi + SPLIT], 1
.next:
    dec rdi
    jnz .loop
    hlt
