/*
 * Entry of the x86 benchmark image, linked at 0x100000 and entered in 64-bit long mode with paging
 * identity-mapping it: edi = rounds (set by the VMM; 0 means 1). Own stack, then halt.
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
