/* Entry of the arm64 C demo guest (EL1, linked at the RAM base 0x40000000): stack, main, PSCI SYSTEM_OFF. */
.section .text.start, "ax"
.global _start
_start:
	ldr x1, =stack_top
	mov sp, x1
	bl main
	movz x0, #0x0008
	movk x0, #0x8400, lsl #16   /* PSCI_SYSTEM_OFF */
	hvc #0
1:	wfi
	b 1b
.ltorg

.section .note.GNU-stack, "", @progbits
