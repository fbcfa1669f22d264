; Translated regions shared between VMs (test/x86/jit-shared.test.ts): position-independent
; 64-bit code run at a low or a kernel-half address, at CPL 0 or 3. A hot loop calls a leaf on
; its page (one region: the loop, the leaf, the return site) and adds a load at rsi; after each
; phase the guest rewrites the leaf's immediate itself (self-modifying code in a region's member)
; and moves rsi by r15 (a later phase may load from a page the CPL cannot read).
; In: rdi = rounds per phase, rsi = load address, r15 = its step per phase.
; Out: OUT 0x90 with eax = the sum (r12) after each phase; HLT after 6 phases.
bits 64
org 0
start:  xor r12d, r12d
        mov r13d, 6
phase:  mov ecx, edi
loop:   call leaf
        add r12d, eax
        add r12d, [rsi]
        dec ecx
        jnz loop
        add dword [rel leaf + 1], 0x101
        add rsi, r15
        mov eax, r12d
        out 0x90, eax
        dec r13d
        jnz phase
        hlt
leaf:   mov eax, 0x11111111
        ret
