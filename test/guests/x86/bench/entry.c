/*
 * Bare-metal entry of the x86 benchmark image (long mode, identity-mapped, no interrupts).
 * rounds = edi as the VMM set it (0 means 1). Reports the checksum twice: as a 32-bit OUT to the
 * result port 0x500 (one KVM_EXIT_IO a VMM or benchmark can read), and as a text line on COM1
 * (16550 at 0x3f8). start.S halts afterwards.
 */
#include "work.h"

#define COM1 0x3f8
#define RESULT_PORT 0x500

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
	while (!(inb(COM1 + 5) & 0x20)) /* LSR.THRE */
		;
	outb(COM1, (u8)c);
}

static void puts_(const char *s)
{
	while (*s)
		putc_(*s++);
}

static void putdec(u32 v)
{
	char b[11];
	int i = 10;
	b[i] = 0;
	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	puts_(b + i);
}

static void puthex32(u32 v)
{
	for (int s = 28; s >= 0; s -= 4)
		putc_("0123456789abcdef"[(v >> s) & 15]);
}

u32 entry(u32 rounds)
{
	if (!rounds)
		rounds = 1;
	u32 sum = workload(rounds);
	outl(RESULT_PORT, sum);
	puts_("rounds=");
	putdec(rounds);
	puts_(" checksum=0x");
	puthex32(sum);
	putc_('\n');
	return sum;
}
