/*
 * Reads programs from stdin, runs each in user mode (see harness.S), writes X0-X30 and NZCV
 * (32 u64 per program) to stdout. Input: u32 count, then per program: u32 nwords, u32 words[],
 * u64 x[31], u64 nzcv. Freestanding enough to link with -static and no libc surprises.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

extern const uint32_t pro_start[], pro_end[], epi_start[], epi_end[];
void run_block(uint64_t *state, void *code);

static int read_all(void *p, size_t n) {
  uint8_t *b = p;
  while (n) {
    ssize_t r = read(0, b, n);
    if (r <= 0) return -1;
    b += r;
    n -= (size_t)r;
  }
  return 0;
}

static uint64_t state[34] __attribute__((aligned(16)));
static uint32_t words[4096];
static uint64_t out[32 * 256];

int main(void) {
  uint32_t count;
  if (read_all(&count, 4)) return 1;
  uint32_t *code = mmap(0, 1 << 16, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  size_t npro = (size_t)(pro_end - pro_start), nepi = (size_t)(epi_end - epi_start);
  size_t nout = 0;
  for (uint32_t p = 0; p < count; p++) {
    uint32_t n;
    if (read_all(&n, 4) || n > 4096 || read_all(words, 4 * n) || read_all(state, 8 * 32)) return 2;
    memcpy(code, pro_start, 4 * npro);
    memcpy(code + npro, words, 4 * n);
    memcpy(code + npro + n, epi_start, 4 * nepi);
    __builtin___clear_cache((char *)code, (char *)(code + npro + n + nepi));
    run_block(state, code);
    memcpy(&out[32 * nout], state, 8 * 32);
    if (++nout == 256 || p + 1 == count) {
      size_t len = 8 * 32 * nout;
      const uint8_t *b = (const uint8_t *)out;
      while (len) {
        ssize_t w = write(1, b, len);
        if (w <= 0) return 3;
        b += w;
        len -= (size_t)w;
      }
      nout = 0;
    }
  }
  return 0;
}
