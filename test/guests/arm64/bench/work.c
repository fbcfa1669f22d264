/*
 * The freestanding benchmark workload (after the research notes' Appendix A): a sieve of
 * Eratosthenes up to 200 000, a bitwise CRC-32 of the sieve buffer, and an insertion sort of 2000
 * LCG values, repeated `rounds` times. Built -O2 -mgeneral-regs-only for bare-metal EL1.
 * Expected result for 40 rounds: 0xC5FDA7F7.
 */
typedef unsigned int u32;
typedef unsigned char u8;

static u8 sieve_buf[200000];
static u32 arr[2000];

static u32 crc32(const u8 *p, u32 n)
{
	u32 c = ~0u;
	for (u32 i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xEDB88320u & -(c & 1));
	}
	return ~c;
}

static u32 sieve(u32 n)
{
	u32 count = 0;
	for (u32 i = 0; i < n; i++)
		sieve_buf[i] = 1;
	for (u32 i = 2; i < n; i++) {
		if (!sieve_buf[i])
			continue;
		count++;
		for (u32 j = i + i; j < n; j += i)
			sieve_buf[j] = 0;
	}
	return count;
}

static u32 sortsum(u32 seed)
{
	for (u32 i = 0; i < 2000; i++) {
		seed = seed * 1103515245u + 12345u;
		arr[i] = seed >> 8;
	}
	for (u32 i = 1; i < 2000; i++) {
		u32 v = arr[i];
		int j = (int)i - 1;
		while (j >= 0 && arr[j] > v) {
			arr[j + 1] = arr[j];
			j--;
		}
		arr[j + 1] = v;
	}
	u32 s = 0;
	for (u32 i = 0; i < 2000; i += 97)
		s += arr[i];
	return s;
}

u32 workload(u32 rounds)
{
	u32 acc = 0;
	for (u32 r = 0; r < rounds; r++) {
		acc += sieve(200000);
		acc ^= crc32(sieve_buf, 200000);
		acc += sortsum(acc);
	}
	return acc;
}
