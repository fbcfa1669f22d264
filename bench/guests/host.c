/*
 * The workload as an ordinary Linux program: native execution on the host (the physical limit)
 * and the same program under qemu-x86_64 / qemu-aarch64 user mode. Times workload() alone
 * (CLOCK_MONOTONIC) and prints one line per run: "<rounds> <mask> <ns> <checksum>".
 *   host <rounds> <mask> [repeats]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "work.h"

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	u32 rounds = (u32)strtoul(argv[1], NULL, 0);
	u32 mask = (u32)strtoul(argv[2], NULL, 0);
	int repeats = argc > 3 ? atoi(argv[3]) : 1;
	for (int i = 0; i < repeats; i++) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		u32 sum = workload(rounds, mask);
		clock_gettime(CLOCK_MONOTONIC, &b);
		long long ns = (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
		printf("%u %u %lld 0x%08x\n", rounds, mask, ns, sum);
	}
	return 0;
}
