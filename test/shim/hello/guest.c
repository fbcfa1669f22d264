/*
 * The hello-world guest of kvm-hello.c, one C source built for 16-bit real mode (gcc -m16),
 * 32-bit protected mode (-m32, with and without paging) and 64-bit long mode (-m64): it prints
 * "Hello, world!" through port 0xE9, stores the sum of those bytes at 0x404 and 42 at 0x400, and
 * halts with RAX = 42.
 */
#define HELLO_PORT 0xE9

static inline void outb(unsigned short port, unsigned char v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

void __attribute__((noreturn, section(".start"))) _start(void)
{
	const char *p;
	unsigned sum = 0;
	for (p = "Hello, world!\n"; *p; ++p) {
		outb(HELLO_PORT, (unsigned char)*p);
		sum += (unsigned char)*p;
	}
	*(volatile unsigned *)0x404 = sum;
	*(volatile unsigned *)0x400 = 42;
	for (;;) __asm__ volatile("hlt" : : "a"(42) : "memory");
}
