/*
 * Native execution of the benchmark workload: the same work.c built as an ordinary host program.
 * Prints one "rounds=N checksum=0x........" line per argument (the reference for work.expect).
 */
#include <stdio.h>
#include <stdlib.h>
#include "work.h"

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		u32 rounds = (u32)strtoul(argv[i], NULL, 0);
		printf("rounds=%u checksum=0x%08x\n", rounds, workload(rounds));
	}
	return 0;
}
