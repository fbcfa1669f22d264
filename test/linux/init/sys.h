/* Raw Linux system calls for x86-64 and AArch64: just what init.c uses. */
#ifndef VKVM_INIT_SYS_H
#define VKVM_INIT_SYS_H

#if defined(__x86_64__)
enum { NR_read = 0, NR_write = 1, NR_close = 3, NR_lseek = 8, NR_pause = 34, NR_getpid = 39, NR_clone = 56,
       NR_exit = 60, NR_wait4 = 61, NR_uname = 63, NR_fsync = 74, NR_sync = 162, NR_mount = 165,
       NR_reboot = 169, NR_sched_getaffinity = 204, NR_openat = 257, NR_pipe2 = 293 };
static inline long sc6(long n, long a, long b, long c, long d, long e, long f) {
  register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
  return ret;
}
__asm__(".text\n.global _start\n_start:\n xor %ebp, %ebp\n mov %rsp, %rdi\n and $-16, %rsp\n call start_c\n hlt\n");
#elif defined(__aarch64__)
enum { NR_read = 63, NR_write = 64, NR_close = 57, NR_lseek = 62, NR_getpid = 172, NR_clone = 220, NR_exit = 93,
       NR_wait4 = 260, NR_uname = 160, NR_fsync = 82, NR_sync = 81, NR_mount = 40, NR_reboot = 142,
       NR_sched_getaffinity = 123, NR_openat = 56, NR_pipe2 = 59, NR_ppoll = 73 };
static inline long sc6(long n, long a, long b, long c, long d, long e, long f) {
  register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b, x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d, x4 __asm__("x4") = e, x5 __asm__("x5") = f;
  __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
}
__asm__(".text\n.global _start\n_start:\n mov x29, #0\n mov x0, sp\n bl start_c\n b .\n");
#else
#error "x86_64 or aarch64 only"
#endif

#define AT_FDCWD (-100)
#define O_WRONLY 01
#define O_RDWR 02
#define O_CREAT 0100
#define O_NOCTTY 0400
#define O_TRUNC 01000
#define SIGCHLD 17
#define LINUX_REBOOT_MAGIC1 0xfee1dead
#define LINUX_REBOOT_MAGIC2 672274793
#define LINUX_REBOOT_CMD_RESTART 0x01234567
#define LINUX_REBOOT_CMD_POWER_OFF 0x4321fedc

struct utsname { char sysname[65], nodename[65], release[65], version[65], machine[65], domainname[65]; };

static inline long sys_read(long fd, void *b, unsigned long n) { return sc6(NR_read, fd, (long)b, n, 0, 0, 0); }
static inline long sys_write(long fd, const void *b, unsigned long n) { return sc6(NR_write, fd, (long)b, n, 0, 0, 0); }
static inline long sys_openat(long dfd, const char *p, long flags, long mode) { return sc6(NR_openat, dfd, (long)p, flags, mode, 0, 0); }
static inline long sys_close(long fd) { return sc6(NR_close, fd, 0, 0, 0, 0, 0); }
static inline long sys_lseek(long fd, long off, long whence) { return sc6(NR_lseek, fd, off, whence, 0, 0, 0); }
static inline long sys_pipe2(int *p, long flags) { return sc6(NR_pipe2, (long)p, flags, 0, 0, 0, 0); }
/* fork(): clone with only the exit signal (the x86-64 and generic argument orders agree when the rest is 0). */
static inline long sys_clone(long flags) { return sc6(NR_clone, flags, 0, 0, 0, 0, 0); }
static inline long sys_wait4(long pid, int *status, long options) { return sc6(NR_wait4, pid, (long)status, options, 0, 0, 0); }
static inline __attribute__((noreturn)) void sys_exit(long code) { sc6(NR_exit, code, 0, 0, 0, 0, 0); for (;;) {} }
static inline long sys_getpid(void) { return sc6(NR_getpid, 0, 0, 0, 0, 0, 0); }
static inline long sys_uname(struct utsname *u) { return sc6(NR_uname, (long)u, 0, 0, 0, 0, 0); }
static inline long sys_fsync(long fd) { return sc6(NR_fsync, fd, 0, 0, 0, 0, 0); }
static inline long sys_sync(void) { return sc6(NR_sync, 0, 0, 0, 0, 0, 0); }
static inline long sys_mount(const char *src, const char *dst, const char *type, long flags, const void *data) {
  return sc6(NR_mount, (long)src, (long)dst, (long)type, flags, (long)data, 0);
}
static inline long sys_reboot(long cmd) { return sc6(NR_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, cmd, 0, 0, 0); }
static inline long sys_sched_getaffinity(long pid, unsigned long len, void *mask) { return sc6(NR_sched_getaffinity, pid, len, (long)mask, 0, 0, 0); }
#if defined(__x86_64__)
static inline long sys_pause(void) { return sc6(NR_pause, 0, 0, 0, 0, 0, 0); }
#else
static inline long sys_pause(void) { return sc6(NR_ppoll, 0, 0, 0, 0, 0, 0); }
#endif

/* gcc may call these even in freestanding code. */
void *memset(void *d, int c, unsigned long n) { unsigned char *p = d; while (n--) *p++ = (unsigned char)c; return d; }
void *memcpy(void *d, const void *s, unsigned long n) { unsigned char *p = d; const unsigned char *q = s; while (n--) *p++ = *q++; return d; }

#endif
