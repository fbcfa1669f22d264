/* The x86 benchmark workload's interface (work.c). */
#ifndef WORK_H
#define WORK_H
typedef unsigned int u32;
typedef unsigned char u8;

/* Runs `rounds` rounds of CRC-32 + sieve + fib and returns the checksum. */
u32 workload(u32 rounds);
#endif
