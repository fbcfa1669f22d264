/*
 * The shared preamble of the C test programs run through `vkvm exec` (abi.c, eventfd.c): TAP
 * output with a running check count, and ioctl returning -errno.
 */
#ifndef VKVM_TEST_TAP_H
#define VKVM_TEST_TAP_H

#include <errno.h>
#include <stdio.h>
#include <sys/ioctl.h>

/* Checks made and failed so far; main returns failed ? 1 : 0. */
static int n, failed;

/* One TAP line: "ok N - ..." or "not ok N - ..." with the printf-style description. */
#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		n++;                                                         \
		if (cond) {                                                  \
			printf("ok %d - ", n);                               \
		} else {                                                     \
			printf("not ok %d - ", n);                           \
			failed++;                                            \
		}                                                            \
		printf(__VA_ARGS__);                                         \
		printf("\n");                                                \
	} while (0)

/* ioctl returning -errno on failure. */
static inline long io(int fd, unsigned long req, void *arg)
{
	long r = ioctl(fd, req, arg);
	return r < 0 ? -errno : r;
}

#endif
