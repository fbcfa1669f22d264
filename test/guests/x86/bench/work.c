/*
 * The freestanding x86 benchmark workload: a table-driven CRC-32, a sieve of Eratosthenes and a
 * recursive Fibonacci, folded into one 32-bit checksum per round. Pure C, no libc, no globals
 * initialised by a loader (everything is set up at run time), so the same file builds as a
 * bare-metal long-mode guest (entry.c + start.S) and as a host program (host.c) whose output is
 * the reference checksum. Expected results: work.expect.
 */
#include "work.h"

#define SIEVE_N 50000u

static u32 crc_table[256];
static u8 sieve_buf[SIEVE_N];

static void crc_init(void)
{
	for (u32 i = 0; i < 256; i++) {
		u32 c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
		crc_table[i] = c;
	}
}

static u32 crc32(const u8 *p, u32 n, u32 crc)
{
	crc = ~crc;
	for (u32 i = 0; i < n; i++)
		crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static u32 sieve(u32 n)
{
	u32 count = 0;
	for (u32 i = 0; i < n; i++)
		sieve_buf[i] = 1;
	sieve_buf[0] = sieve_buf[1] = 0;
	for (u32 i = 2; i < n; i++) {
		if (!sieve_buf[i])
			continue;
		count++;
		for (u32 j = i + i; j < n; j += i)
			sieve_buf[j] = 0;
	}
	return count;
}

/* noinline + volatile-free recursion: gcc keeps it recursive at -O2. */
static __attribute__((noinline)) u32 fib(u32 n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

u32 workload(u32 rounds)
{
	u32 acc = 0x12345678u;
	crc_init();
	for (u32 r = 0; r < rounds; r++) {
		acc += sieve(SIEVE_N - (r & 7));
		acc = crc32(sieve_buf, SIEVE_N, acc);
		acc ^= fib(18 + (r & 3));
		acc = acc * 2654435761u + r;
	}
	return acc;
}
