/*
 * The x86 demo guest, in freestanding C: entered by the VMM in 64-bit long mode (paging on,
 * identity map) at _start (start.S). Prints on COM1 -- a 16550 UART at port 0x3f8, polled through
 * its line status register -- then writes its exit status to the VMM's exit device (port 0xf4).
 */
typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long u64;

#define COM1 0x3f8
#define EXIT_PORT 0xf4

static inline void outb(unsigned short port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(unsigned short port, u32 v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(unsigned short port)
{
	u8 v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void serial_init(void)
{
	outb(COM1 + 1, 0x00); /* IER: no interrupts */
	outb(COM1 + 3, 0x80); /* LCR.DLAB: divisor follows */
	outb(COM1 + 0, 0x01); /* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8N1 */
	outb(COM1 + 2, 0xc7); /* FCR: FIFOs on, cleared */
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

static void putdec(u64 v)
{
	char b[21];
	int i = 20;
	b[i] = 0;
	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	puts_(b + i);
}

void main(void)
{
	serial_init();
	puts_("hello from x86-64 long mode\n");
	/* Some 64-bit arithmetic, to show the code really runs: the first Fibonacci numbers past 2^32. */
	u64 a = 0, b = 1;
	int n = 0;
	while (b < (1ul << 32)) {
		u64 t = a + b;
		a = b;
		b = t;
		n++;
	}
	puts_("fib(");
	putdec((u64)n + 1);
	puts_(") = ");
	putdec(b);
	puts_(" > 2^32\n");
	outl(EXIT_PORT, 0);
}
