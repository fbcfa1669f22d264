; Translated regions of the x86 block JIT (test/x86/jit-region.test.ts): position-independent
; 64-bit code run at a low or a kernel-half address, at CPL 0 or 3. Calls, returns, loops and
; fall-throughs between blocks of one code page, so a hot block is translated with the blocks
; around it into one function that moves between them (a recursive fib: predicted returns; an
; array walk calling a leaf; a byte loop). Each round ends with a probe access at r14 (a load,
; or a store when r11 = 1), then r14 += r15: the test aims r14 so that a later round's probe
; reaches MMIO or an unmapped page while the code around it runs translated.
; In: rbx = data (64 qwords), rdi = rounds, r14/r15 = probe address and step, r11 = store probe,
; r9 = bytes RSP moves down each round (the stack probe: a later round's recursion reaches a page
; that is not present).
; Out: OUT 0x90 with eax = the checksum (r12); then OUT 0x84 with the immediate of `getv`, again
; and again (the test rewrites that immediate between runs: a member of a region, not its entry).
bits 64
org 0
start:
        xor r12d, r12d
        mov r13, rdi
round:  sub rsp, r9
        mov edi, 9
        call fib
        add r12d, eax
        xor ecx, ecx
walk:   mov rax, [rbx + rcx * 8]
        call leaf
        mov [rbx + rcx * 8], rax
        add r12, rax
        inc ecx
        cmp ecx, 64
        jb walk
        lea rsi, [rbx + 512]
        mov edx, 40
bytes:  mov al, [rsi + rdx]
        add al, dl
        mov [rsi + rdx], al
        sub edx, 1
        jnz bytes
        test r11d, r11d
        jnz .store
        mov rax, [r14]
        add r12, rax
        jmp .next
.store: mov [r14], r12
.next:  add r14, r15
        dec r13
        jnz round
        mov eax, r12d
        out 0x90, eax
again:  call getv
        out 0x84, eax
        jmp again
getv:   mov eax, 0x11111111
        ret
; fib(edi) -> eax, recursive
fib:    cmp edi, 2
        jb .small
        push rbx
        push rbp
        mov ebx, edi
        lea edi, [rbx - 1]
        call fib
        mov ebp, eax
        lea edi, [rbx - 2]
        call fib
        add eax, ebp
        pop rbp
        pop rbx
        ret
.small: mov eax, edi
        ret
; leaf(rax) -> rax: a 64-bit mix with a carry into the high half
leaf:   lea rax, [rax * 2 + 1]
        mov rdx, 0x00000001fffffff0
        add rax, rdx
        ret
