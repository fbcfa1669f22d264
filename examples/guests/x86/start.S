/* Entry of the x86 C demo guest (64-bit long mode, linked at 1 MiB): own stack, main, halt. */
.section .text.start, "ax"
.code64
.global _start
_start:
	lea stack_top(%rip), %rsp
	call main
1:	hlt
	jmp 1b

.section .note.GNU-stack, "", @progbits
