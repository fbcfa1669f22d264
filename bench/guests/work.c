/*
 * The freestanding benchmark workload, one C file for every target: the x86-64 and arm64 guests
 * (bare metal under vkvm or /dev/kvm), the host (native execution: the physical limit) and
 * Linux user mode under qemu-x86_64 / qemu-aarch64. No libc, no initialised data, no builtins
 * (built with -fno-builtin -fno-tree-loop-distribute-patterns, so loops stay loops).
 *
 * Kernels (mask bits, work.h): a table-driven CRC-32 over 64 KiB, a sieve of Eratosthenes up to
 * 32768, a recursive Fibonacci (fib(20..23)), and memcpy (64 KiB by 64-bit words, 8 KiB by
 * bytes, at varying offsets). Each round folds every selected kernel into the checksum; the
 * work per round repeats with period 8.
 */
#include "work.h"

#define BUF 65536u
#define SIEVE_N 32768u

static u32 crc_table[256];
static u8 src[BUF];
static u8 dst[BUF + 64];
static u8 sieve_buf[SIEVE_N];

static void init(void)
{
	for (u32 i = 0; i < 256; i++) {
		u32 c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
		crc_table[i] = c;
	}
	u32 s = 1;
	for (u32 i = 0; i < BUF; i++) {
		s = s * 1103515245u + 12345u;
		src[i] = (u8)(s >> 16);
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

static __attribute__((noinline)) u32 fib(u32 n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static __attribute__((noinline)) void copy_words(u64 *d, const u64 *s, u32 n)
{
	for (u32 i = 0; i < n; i++)
		d[i] = s[i];
}

static __attribute__((noinline)) void copy_bytes(u8 *d, const u8 *s, u32 n)
{
	for (u32 i = 0; i < n; i++)
		d[i] = s[i];
}

static u32 memcpy_round(u32 r)
{
	copy_words((u64 *)(void *)dst, (const u64 *)(const void *)src, BUF / 8);
	u32 off = r & 7;
	copy_bytes(dst + off + 1, src + 8 * off, 8192);
	return dst[r & 1023] | (u32)dst[off + 4000] << 8 | (u32)dst[BUF - 1 - off] << 16;
}

u32 workload(u32 rounds, u32 mask)
{
	u32 acc = 0x12345678u;
	if (!mask)
		mask = K_ALL;
	init();
	for (u32 r = 0; r < rounds; r++) {
		if (mask & K_CRC32)
			acc = crc32(src, BUF, acc);
		if (mask & K_SIEVE)
			acc += sieve(SIEVE_N - (r & 7));
		if (mask & K_FIB)
			acc ^= fib(20 + (r & 3));
		if (mask & K_MEMCPY)
			acc += memcpy_round(r);
		acc = acc * 2654435761u + r;
	}
	return acc;
}
