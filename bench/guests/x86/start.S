/*
 * Entry of the x86-64 benchmark guest, linked at 0x100000 and entered in 64-bit long mode with
 * paging identity-mapping it (examples/mini-vmm's long-mode board): edi = rounds, esi = kernel
 * mask (work.h), or esi = 0xffffffff for the exit loop. Own stack; halts when done.
 */
.section .text.start, "ax"
.code64
.global _start
_start:
	lea stack_top(%rip), %rsp
	call entry
1:	hlt
	jmp 1b

.section .note.GNU-stack, "", @progbits
