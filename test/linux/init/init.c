/*
 * The fixture kernels' /init: a freestanding static program (no libc: raw system calls, so it runs
 * before any x87/SSE or AdvSIMD userspace support matters) that shows userspace works:
 * it prints a line, writes and reads back a file on the initramfs, passes bytes through a pipe to a
 * forked child and collects its exit status, counts the CPUs it may run on, uses a virtio-blk disk
 * (/dev/vda: prints its first line, writes a marker at offset 4096) and the virtio console
 * (/dev/hvc0) when present, then powers off: PSCI SYSTEM_OFF on arm64; on x86 (no ACPI) a restart
 * through the i8042 controller (reboot=k), which the VMM takes as the end of the guest, as
 * Firecracker does. Every step prints "ok" or "FAIL"; the tests read those lines.
 */
#include "sys.h"

static char buf[4096];

static unsigned long slen(const char *s) {
  unsigned long n = 0;
  while (s[n]) n++;
  return n;
}

static void puts1(int fd, const char *s) { sys_write(fd, s, slen(s)); }
static void say(const char *s) { puts1(1, s); }

static char *utoa(unsigned long v, char *end) {
  *--end = 0;
  do *--end = '0' + v % 10; while (v /= 10);
  return end;
}

static void say_num(const char *pre, long v, const char *post) {
  char tmp[24];
  say(pre);
  if (v < 0) { say("-"); v = -v; }
  say(utoa((unsigned long)v, tmp + sizeof tmp));
  say(post);
}

static int same(const char *a, const char *b, unsigned long n) {
  for (unsigned long i = 0; i < n; i++) if (a[i] != b[i]) return 0;
  return 1;
}

static int failures;
static void check(const char *what, int ok) {
  say("vkvm-init: ");
  say(what);
  say(ok ? ": ok\n" : ": FAIL\n");
  if (!ok) failures++;
}

static void file_test(void) {
  static const char msg[] = "written to the initramfs and read back\n";
  long fd = sys_openat(AT_FDCWD, "/hello.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
  long w = fd >= 0 ? sys_write(fd, msg, sizeof msg - 1) : -1;
  long s = fd >= 0 ? sys_lseek(fd, 0, 0) : -1;
  long r = fd >= 0 ? sys_read(fd, buf, sizeof buf) : -1;
  if (fd >= 0) sys_close(fd);
  check("file write/read", w == sizeof msg - 1 && s == 0 && r == w && same(buf, msg, sizeof msg - 1));
}

static void pipe_fork_test(void) {
  static const char msg[] = "through a pipe from the child";
  int p[2];
  if (sys_pipe2(p, 0) < 0) { check("pipe", 0); return; }
  long pid = sys_clone(SIGCHLD);
  if (pid == 0) {
    sys_close(p[0]);
    long w = sys_write(p[1], msg, sizeof msg - 1);
    sys_exit(w == sizeof msg - 1 ? 42 : 1);
  }
  sys_close(p[1]);
  long n = 0, r;
  while ((r = sys_read(p[0], buf + n, sizeof buf - n)) > 0) n += r;
  sys_close(p[0]);
  int status = 0;
  long waited = pid > 0 ? sys_wait4(pid, &status, 0) : -1;
  check("pipe", n == sizeof msg - 1 && same(buf, msg, n));
  check("fork + wait4 (child exit status 42)", pid > 0 && waited == pid && (status & 0x7f) == 0 && ((status >> 8) & 0xff) == 42);
}

static void cpu_count(void) {
  unsigned long mask[4] = {0};
  long n = sys_sched_getaffinity(0, sizeof mask, mask);
  int cpus = 0;
  for (long i = 0; i < n && i < (long)sizeof mask; i++)
    for (int b = 0; b < 8; b++) cpus += (((unsigned char *)mask)[i] >> b) & 1;
  say_num("vkvm-init: cpus ", cpus, "\n");
}

static void disk_test(void) {
  long fd = sys_openat(AT_FDCWD, "/dev/vda", O_RDWR, 0);
  if (fd < 0) { say("vkvm-init: no /dev/vda\n"); return; }
  long r = sys_read(fd, buf, 512);
  long i = 0;
  while (i < r && buf[i] != '\n' && buf[i]) i++;
  say("vkvm-init: /dev/vda says: ");
  sys_write(1, buf, i);
  say("\n");
  static const char mark[] = "vkvm-init wrote this sector\n";
  long s = sys_lseek(fd, 4096, 0);
  long w = sys_write(fd, mark, sizeof mark - 1);
  long f = sys_fsync(fd);
  sys_close(fd);
  check("virtio-blk read + write + fsync", r == 512 && s == 4096 && w == sizeof mark - 1 && f == 0);
}

static void hvc_test(void) {
  long fd = sys_openat(AT_FDCWD, "/dev/hvc0", O_WRONLY | O_NOCTTY, 0);
  if (fd < 0) return;
  puts1(fd, "vkvm-init: hello on the virtio console\n");
  sys_close(fd);
}

void start_c(long *sp) {
  (void)sp;
  struct utsname u;
  say("vkvm-init: hello from userspace\n");
  if (sys_uname(&u) == 0) {
    say("vkvm-init: ");
    say(u.sysname); say(" "); say(u.release); say(" "); say(u.machine); say("\n");
  }
  say_num("vkvm-init: pid ", sys_getpid(), "\n");
  file_test();
  pipe_fork_test();
  cpu_count();
  long m = sys_mount("devtmpfs", "/dev", "devtmpfs", 0, 0);
  check("mount devtmpfs", m == 0);
  disk_test();
  hvc_test();
  say_num("vkvm-init: failures ", failures, "\n");
  say("vkvm-init: powering off\n");
  sys_sync();
#ifdef __x86_64__
  sys_reboot(LINUX_REBOOT_CMD_RESTART);
#else
  sys_reboot(LINUX_REBOOT_CMD_POWER_OFF);
#endif
  say("vkvm-init: reboot returned\n");
  for (;;) sys_pause();
}
