/* The benchmark workload's interface (work.c). */
#ifndef BENCH_WORK_H
#define BENCH_WORK_H
typedef unsigned int u32;
typedef unsigned char u8;
typedef unsigned long long u64;

/* Kernels selected by workload()'s mask (0 = all). */
#define K_CRC32  1u
#define K_SIEVE  2u
#define K_FIB    4u
#define K_MEMCPY 8u
#define K_ALL    15u

/* Runs `rounds` rounds of the selected kernels and returns a checksum (rounds = 0: set-up only). */
u32 workload(u32 rounds, u32 mask);
#endif
