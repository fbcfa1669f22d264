/*
 * The arm64 demo guest, in freestanding C: entered by the VMM at EL1 (MMU off) at _start
 * (start.S). Prints on a PL011 UART (MMIO at 0x09000000, as on QEMU's "virt" board), polling its
 * flag register, then powers off through PSCI SYSTEM_OFF (start.S).
 */
typedef unsigned int u32;
typedef unsigned long u64;

#define UART_BASE 0x09000000ul
#define UARTDR 0x00
#define UARTFR 0x18
#define UARTFR_TXFF (1u << 5)

static inline void mmio_write32(u64 addr, u32 v) { *(volatile u32 *)addr = v; }
static inline u32 mmio_read32(u64 addr) { return *(volatile u32 *)addr; }

static void putc_(char c)
{
	while (mmio_read32(UART_BASE + UARTFR) & UARTFR_TXFF)
		;
	mmio_write32(UART_BASE + UARTDR, (u32)(unsigned char)c);
}

static void puts_(const char *s)
{
	while (*s)
		putc_(*s++);
}

void main(void)
{
	u64 el;
	__asm__ volatile("mrs %0, CurrentEL" : "=r"(el));
	puts_("hello from arm64 EL");
	putc_((char)('0' + ((el >> 2) & 3)));
	putc_('\n');
	u64 a = 0, b = 1;
	int n = 1;
	while (b < (1ul << 32)) {
		u64 t = a + b;
		a = b;
		b = t;
		n++;
	}
	char buf[24];
	int i = 23;
	buf[i] = 0;
	do {
		buf[--i] = (char)('0' + b % 10);
		b /= 10;
	} while (b);
	puts_("fib(");
	putc_((char)('0' + n / 10));
	putc_((char)('0' + n % 10));
	puts_(") = ");
	puts_(buf + i);
	puts_(" > 2^32\n");
}
