/*
 * x86-64 guest side of the benchmark: runs the workload and reports the checksum as a 32-bit OUT
 * to port 0x500 and as a text line on COM1 (16550 at 0x3f8: it polls LSR.THRE, so a VMM must
 * answer reads of port 0x3fd). mask = 0xffffffff instead loops on `out %al, $0x80` forever: one
 * KVM_EXIT_IO per iteration, for the exit round-trip measurement.
 */
#include "../work.h"

#define COM1 0x3f8
#define RESULT_PORT 0x500
#define EXIT_LOOP_PORT 0x80

static inline void outb(unsigned short port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(unsigned short port, u32 v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(unsigned short port)
{
	u8 v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void putc_(char c)
{
	while (!(inb(COM1 + 5) & 0x20))
		;
	outb(COM1, (u8)c);
}

static void puts_(const char *s)
{
	while (*s)
		putc_(*s++);
}

static void puthex32(u32 v)
{
	for (int s = 28; s >= 0; s -= 4)
		putc_("0123456789abcdef"[(v >> s) & 15]);
}

void entry(u32 rounds, u32 mask)
{
	if (mask == 0xffffffffu)
		for (;;)
			outb(EXIT_LOOP_PORT, 0);
	u32 sum = workload(rounds, mask);
	outl(RESULT_PORT, sum);
	puts_("checksum=0x");
	puthex32(sum);
	putc_('\n');
}
