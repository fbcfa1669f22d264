/*
 * Host-CPU oracle for the x87/SSE numerics (src/arch/x86/fpu): reads fixed-size records from
 * stdin, executes the named instruction on this x86-64 CPU and writes one result record per
 * input to stdout. test/x86/fpu-*.test.ts generates the inputs, runs the emulator's model of the
 * same sequence and compares.
 *
 *   fpu-oracle --list       prints the operation names, one per line, in id order
 *   fpu-oracle < in > out   in: records of 64 bytes, out: records of 128 bytes
 *
 * Input record:  u32 op, u32 ctl (FCW or MXCSR), u32 imm, u32 aux, a[16], b[16], c[16].
 * x87 operations run   fninit; fldcw ctl; fld tbyte b; fld tbyte a; <insn>; fnsave
 * with the memory operand m (16 bytes) initialised from c, and write
 *   out[0..108) the FNSAVE image (32-bit protected-mode format), out[108..124) m,
 *   out[124..128) RFLAGS after the instruction.
 * SSE operations run   ldmxcsr ctl; xmm0 = a; xmm1 = b; xmm2 = c; rax = aux/a; <insn>
 * and write out[0..16) xmm0, out[16..20) MXCSR, out[20..24) RFLAGS, out[24..28) the signal
 * (SIGFPE for an unmasked exception: then out[16..20) is MXCSR at the fault), out[32..40) the
 * general register result, out[40..56) xmm1.
 *
 * Build: gcc -O1 -mno-red-zone -msse4.2 -mpopcnt -mlzcnt -mbmi
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>

typedef struct {
  uint32_t op, ctl, imm, aux;
  uint8_t a[16], b[16], c[16];
} rec_in;

static sigjmp_buf jb;
static volatile uint32_t fault_mxcsr;
static volatile int fault_sig;

static void on_fpe(int sig, siginfo_t *si, void *ucv) {
  (void)si;
  ucontext_t *uc = ucv;
  fault_sig = sig;
  fault_mxcsr = uc->uc_mcontext.fpregs ? uc->uc_mcontext.fpregs->mxcsr : 0;
  siglongjmp(jb, 1);
}

/* ---- operation table ------------------------------------------------------------------- */

#define X87_OPS(X)                                                                                   \
  X(fadd, "fadd %%st(1), %%st")                                                                       \
  X(fsub, "fsub %%st(1), %%st")                                                                       \
  X(fsubr, "fsubr %%st(1), %%st")                                                                     \
  X(fmul, "fmul %%st(1), %%st")                                                                       \
  X(fdiv, "fdiv %%st(1), %%st")                                                                       \
  X(fdivr, "fdivr %%st(1), %%st")                                                                     \
  X(faddp, "faddp %%st, %%st(1)")                                                                     \
  X(fsqrt, "fsqrt")                                                                                   \
  X(fprem, "fprem")                                                                                   \
  X(fprem1, "fprem1")                                                                                 \
  X(frndint, "frndint")                                                                               \
  X(fscale, "fscale")                                                                                 \
  X(fxtract, "fxtract")                                                                               \
  X(fabs, "fabs")                                                                                     \
  X(fchs, "fchs")                                                                                     \
  X(fcom, "fcom %%st(1)")                                                                             \
  X(fucom, "fucom %%st(1)")                                                                           \
  X(fcompp, "fcompp")                                                                                 \
  X(fcomi, "fcomi %%st(1), %%st")                                                                     \
  X(fucomip, "fucomip %%st(1), %%st")                                                                 \
  X(ftst, "ftst")                                                                                     \
  X(fxam, "fxam")                                                                                     \
  X(fst_m32, "fsts %[m]")                                                                             \
  X(fst_m64, "fstl %[m]")                                                                             \
  X(fstp_m32, "fstps %[m]")                                                                           \
  X(fstp_m80, "fstpt %[m]")                                                                           \
  X(fist_m16, "fists %[m]")                                                                           \
  X(fist_m32, "fistl %[m]")                                                                           \
  X(fistp_m64, "fistpll %[m]")                                                                        \
  X(fisttp_m16, "fisttps %[m]")                                                                       \
  X(fisttp_m32, "fisttpl %[m]")                                                                       \
  X(fisttp_m64, "fisttpll %[m]")                                                                      \
  X(fbstp, "fbstp %[m]")                                                                              \
  X(fld_m32, "flds %[m]")                                                                             \
  X(fld_m64, "fldl %[m]")                                                                             \
  X(fld_m80, "fldt %[m]")                                                                             \
  X(fild_m16, "filds %[m]")                                                                           \
  X(fild_m32, "fildl %[m]")                                                                           \
  X(fild_m64, "fildll %[m]")                                                                          \
  X(fbld, "fbld %[m]")                                                                                \
  X(fadd_m32, "fadds %[m]")                                                                           \
  X(fmul_m64, "fmull %[m]")                                                                           \
  X(fdivr_m64, "fdivrl %[m]")                                                                         \
  X(fiadd_m16, "fiadds %[m]")                                                                         \
  X(fisub_m32, "fisubl %[m]")                                                                         \
  X(fcom_m64, "fcoml %[m]")                                                                           \
  X(ficomp_m32, "ficompl %[m]")                                                                       \
  X(fld1, "fld1")                                                                                     \
  X(fldl2t, "fldl2t")                                                                                 \
  X(fldl2e, "fldl2e")                                                                                 \
  X(fldpi, "fldpi")                                                                                   \
  X(fldlg2, "fldlg2")                                                                                 \
  X(fldln2, "fldln2")                                                                                 \
  X(fldz, "fldz")                                                                                     \
  X(fxch, "fxch %%st(1)")                                                                             \
  X(fld_st1, "fld %%st(1)")                                                                           \
  X(fstp_st1, "fstp %%st(1)")                                                                         \
  X(ffree_fincstp, "ffree %%st(0)\n fincstp")                                                         \
  X(fdecstp, "fdecstp")                                                                               \
  X(fcmovb, "stc\n fcmovb %%st(1), %%st")                                                                 \
  X(fsin, "fsin")                                                                                     \
  X(fcos, "fcos")                                                                                     \
  X(fsincos, "fsincos")                                                                               \
  X(fptan, "fptan")                                                                                   \
  X(fpatan, "fpatan")                                                                                 \
  X(f2xm1, "f2xm1")                                                                                   \
  X(fyl2x, "fyl2x")                                                                                   \
  X(fyl2xp1, "fyl2xp1")                                                                               \
  X(fnstenv, "fnstenv %[m2]")                                                                         \
  X(fldenv, "fldenv %[m2]")                                                                           \
  X(fxsave, "fxsave %[fx]")                                                                           \
  X(fninit, "fninit")                                                                                 \
  X(fnstenv16, "fnstenvs %[m2]")                                                                      \
  X(fldenv16, "fldenvs %[m2]")                                                                        \
  X(push7, "fld1\n fld1\n fld1\n fld1\n fld1\n fld1\n fld1")                                        \
  X(underflow_fadd, "ffree %%st(1)\n fadd %%st(1), %%st")                                             \
  X(mmx_movq, "movq %[m], %%mm0")                                                                     \
  X(emms, "emms")

/* SSE ops: xmm0 op= xmm1 (xmm2 = c). */
#define SSE_OPS(X)                                                                                   \
  X(addss, "addss %%xmm1, %%xmm0")                                                                    \
  X(subss, "subss %%xmm1, %%xmm0")                                                                    \
  X(mulss, "mulss %%xmm1, %%xmm0")                                                                    \
  X(divss, "divss %%xmm1, %%xmm0")                                                                    \
  X(sqrtss, "sqrtss %%xmm1, %%xmm0")                                                                  \
  X(minss, "minss %%xmm1, %%xmm0")                                                                    \
  X(maxss, "maxss %%xmm1, %%xmm0")                                                                    \
  X(addsd, "addsd %%xmm1, %%xmm0")                                                                    \
  X(subsd, "subsd %%xmm1, %%xmm0")                                                                    \
  X(mulsd, "mulsd %%xmm1, %%xmm0")                                                                    \
  X(divsd, "divsd %%xmm1, %%xmm0")                                                                    \
  X(sqrtsd, "sqrtsd %%xmm1, %%xmm0")                                                                  \
  X(minsd, "minsd %%xmm1, %%xmm0")                                                                    \
  X(maxsd, "maxsd %%xmm1, %%xmm0")                                                                    \
  X(addps, "addps %%xmm1, %%xmm0")                                                                    \
  X(mulps, "mulps %%xmm1, %%xmm0")                                                                    \
  X(divps, "divps %%xmm1, %%xmm0")                                                                    \
  X(sqrtps, "sqrtps %%xmm1, %%xmm0")                                                                  \
  X(maxps, "maxps %%xmm1, %%xmm0")                                                                    \
  X(subpd, "subpd %%xmm1, %%xmm0")                                                                    \
  X(mulpd, "mulpd %%xmm1, %%xmm0")                                                                    \
  X(divpd, "divpd %%xmm1, %%xmm0")                                                                    \
  X(sqrtpd, "sqrtpd %%xmm1, %%xmm0")                                                                  \
  X(minpd, "minpd %%xmm1, %%xmm0")                                                                    \
  X(addsubps, "addsubps %%xmm1, %%xmm0")                                                              \
  X(addsubpd, "addsubpd %%xmm1, %%xmm0")                                                              \
  X(haddps, "haddps %%xmm1, %%xmm0")                                                                  \
  X(hsubpd, "hsubpd %%xmm1, %%xmm0")                                                                  \
  X(comiss, "comiss %%xmm1, %%xmm0")                                                                  \
  X(ucomiss, "ucomiss %%xmm1, %%xmm0")                                                                \
  X(comisd, "comisd %%xmm1, %%xmm0")                                                                  \
  X(ucomisd, "ucomisd %%xmm1, %%xmm0")                                                                \
  X(cvtss2sd, "cvtss2sd %%xmm1, %%xmm0")                                                              \
  X(cvtsd2ss, "cvtsd2ss %%xmm1, %%xmm0")                                                              \
  X(cvtps2pd, "cvtps2pd %%xmm1, %%xmm0")                                                              \
  X(cvtpd2ps, "cvtpd2ps %%xmm1, %%xmm0")                                                              \
  X(cvtdq2ps, "cvtdq2ps %%xmm1, %%xmm0")                                                              \
  X(cvtdq2pd, "cvtdq2pd %%xmm1, %%xmm0")                                                              \
  X(cvtps2dq, "cvtps2dq %%xmm1, %%xmm0")                                                              \
  X(cvttps2dq, "cvttps2dq %%xmm1, %%xmm0")                                                            \
  X(cvtpd2dq, "cvtpd2dq %%xmm1, %%xmm0")                                                              \
  X(cvttpd2dq, "cvttpd2dq %%xmm1, %%xmm0")                                                            \
  X(cvtsi2ss32, "cvtsi2ssl %%eax, %%xmm0")                                                            \
  X(cvtsi2ss64, "cvtsi2ssq %%rax, %%xmm0")                                                            \
  X(cvtsi2sd32, "cvtsi2sdl %%eax, %%xmm0")                                                            \
  X(cvtsi2sd64, "cvtsi2sdq %%rax, %%xmm0")                                                            \
  X(cvtss2si32, "cvtss2si %%xmm1, %%eax")                                                             \
  X(cvtss2si64, "cvtss2si %%xmm1, %%rax")                                                             \
  X(cvttss2si32, "cvttss2si %%xmm1, %%eax")                                                           \
  X(cvttss2si64, "cvttss2si %%xmm1, %%rax")                                                           \
  X(cvtsd2si32, "cvtsd2si %%xmm1, %%eax")                                                             \
  X(cvtsd2si64, "cvtsd2si %%xmm1, %%rax")                                                             \
  X(cvttsd2si32, "cvttsd2si %%xmm1, %%eax")                                                           \
  X(cvttsd2si64, "cvttsd2si %%xmm1, %%rax")                                                           \
  X(pmaddwd, "pmaddwd %%xmm1, %%xmm0")                                                                \
  X(psadbw, "psadbw %%xmm1, %%xmm0")                                                                  \
  X(pmulhuw, "pmulhuw %%xmm1, %%xmm0")                                                                \
  X(pmulhw, "pmulhw %%xmm1, %%xmm0")                                                                  \
  X(pmuludq, "pmuludq %%xmm1, %%xmm0")                                                                \
  X(pmulld, "pmulld %%xmm1, %%xmm0")                                                                  \
  X(pmaddubsw, "pmaddubsw %%xmm1, %%xmm0")                                                            \
  X(pmulhrsw, "pmulhrsw %%xmm1, %%xmm0")                                                              \
  X(packsswb, "packsswb %%xmm1, %%xmm0")                                                              \
  X(packssdw, "packssdw %%xmm1, %%xmm0")                                                              \
  X(packuswb, "packuswb %%xmm1, %%xmm0")                                                              \
  X(packusdw, "packusdw %%xmm1, %%xmm0")                                                              \
  X(pshufb, "pshufb %%xmm1, %%xmm0")                                                                  \
  X(paddsb, "paddsb %%xmm1, %%xmm0")                                                                  \
  X(psubusw, "psubusw %%xmm1, %%xmm0")                                                                \
  X(pavgb, "pavgb %%xmm1, %%xmm0")                                                                    \
  X(phaddsw, "phaddsw %%xmm1, %%xmm0")                                                                \
  X(pminsd, "pminsd %%xmm1, %%xmm0")                                                                  \
  X(phminposuw, "phminposuw %%xmm1, %%xmm0")                                                          \
  X(pmovmskb, "pmovmskb %%xmm1, %%eax")                                                               \
  X(ptest, "ptest %%xmm1, %%xmm0")                                                                    \
  X(crc32b, "crc32b %%cl, %%eax")                                                                     \
  X(crc32w, "crc32w %%cx, %%eax")                                                                     \
  X(crc32l, "crc32l %%ecx, %%eax")                                                                    \
  X(crc32q, "crc32q %%rcx, %%rax")                                                                    \
  X(popcnt64, "popcnt %%rcx, %%rax")                                                                  \
  X(lzcnt64, "lzcnt %%rcx, %%rax")                                                                    \
  X(tzcnt64, "tzcnt %%rcx, %%rax")                                                                    \
  X(popcnt16, "popcnt %%cx, %%ax")                                                                    \
  X(lzcnt32, "lzcnt %%ecx, %%eax")                                                                    \
  X(tzcnt16, "tzcnt %%cx, %%ax")

/* imm8 families, expanded over every immediate at run time by a switch on imm. */
#define IMM_OPS(X)                                                                                   \
  X(cmpss, "cmpss $%c[i], %%xmm1, %%xmm0", 8)                                                         \
  X(cmpsd, "cmpsd $%c[i], %%xmm1, %%xmm0", 8)                                                         \
  X(cmpps, "cmpps $%c[i], %%xmm1, %%xmm0", 8)                                                         \
  X(cmppd, "cmppd $%c[i], %%xmm1, %%xmm0", 8)                                                         \
  X(vcmpss, "vcmpss $%c[i], %%xmm1, %%xmm0, %%xmm0", 32)                                              \
  X(vcmppd, "vcmppd $%c[i], %%xmm1, %%xmm0, %%xmm0", 32)                                              \
  X(roundss, "roundss $%c[i], %%xmm1, %%xmm0", 16)                                                    \
  X(roundsd, "roundsd $%c[i], %%xmm1, %%xmm0", 16)                                                    \
  X(roundps, "roundps $%c[i], %%xmm1, %%xmm0", 16)                                                    \
  X(roundpd, "roundpd $%c[i], %%xmm1, %%xmm0", 16)                                                    \
  X(mpsadbw, "mpsadbw $%c[i], %%xmm1, %%xmm0", 8)                                                    \
  X(dpps, "dpps $%c[i], %%xmm1, %%xmm0", 256)                                                         \
  X(dppd, "dppd $%c[i], %%xmm1, %%xmm0", 256)                                                         \
  X(pcmpestri, "pcmpestri $%c[i], %%xmm1, %%xmm0", 256)                                               \
  X(pcmpestrm, "pcmpestrm $%c[i], %%xmm1, %%xmm0", 256)                                               \
  X(pcmpistri, "pcmpistri $%c[i], %%xmm1, %%xmm0", 256)                                               \
  X(pcmpistrm, "pcmpistrm $%c[i], %%xmm1, %%xmm0", 256)

enum {
#define E(n, s) OP_##n,
#define EI(n, s, k) OP_##n,
  X87_OPS(E) OP_X87_END,
  SSE_OPS(E) IMM_OPS(EI) OP_END
#undef E
#undef EI
};
static const char *names[] = {
#define N(n, s) #n,
#define NI(n, s, k) #n,
    X87_OPS(N) "x87_end", SSE_OPS(N) IMM_OPS(NI)
#undef N
#undef NI
};

/* ---- x87 ------------------------------------------------------------------------------- */

static uint8_t fxarea[512] __attribute__((aligned(16)));

static void run_x87(const rec_in *in, uint8_t *out) {
  uint8_t m[16], m2[32];
  uint16_t cw = (uint16_t)in->ctl;
  uint64_t fl = 0;
  memcpy(m, in->c, 16);
  memset(m2, 0, sizeof m2);
  memcpy(m2, in->c, 16);
  memset(fxarea, 0xa5, sizeof fxarea);
  uint8_t *sv = out;
  switch (in->op) {
#define C(n, s)                                                                                      \
  case OP_##n:                                                                                       \
    __asm__ volatile("fninit\n fldz\n fldz\n fldz\n fldz\n fldz\n fldz\n fldz\n fldz\n fninit\n fldcw %[cw]\n fldt %[b]\n fldt %[a]\n " s "\n pushfq\n popq %[fl]\n fnsave %[sv]" \
                     : [sv] "=m"(*(uint8_t(*)[108])sv), [m] "+m"(*(uint8_t(*)[16])m), [m2] "+m"(*(uint8_t(*)[28])m2), \
                       [fx] "=m"(*(uint8_t(*)[512])fxarea), [fl] "=r"(fl)                          \
                     : [cw] "m"(cw), [a] "m"(*(const uint8_t(*)[10])in->a), [b] "m"(*(const uint8_t(*)[10])in->b) \
                     : "memory", "cc");                                                              \
    break;
    X87_OPS(C)
#undef C
  }
  memcpy(out + 108, m, 16);
  uint32_t f32 = (uint32_t)fl;
  memcpy(out + 124, &f32, 4);
  if (in->op == OP_fnstenv || in->op == OP_fnstenv16) memcpy(out + 108, m2, 16); /* the environment image's first 16 bytes */
  if (in->op == OP_fxsave) memcpy(out + 108, fxarea, 16);
}

/* ---- SSE ------------------------------------------------------------------------------- */


static void run_sse(const rec_in *in, uint8_t *out) {
  uint8_t x0[16], x1[16], x2[16];
  uint32_t mx = in->ctl, mxo = 0;
  uint64_t rax, rcx, fl = 0;
  memcpy(x0, in->a, 16);
  memcpy(x1, in->b, 16);
  memcpy(x2, in->c, 16);
  memcpy(&rax, in->a, 8);
  memcpy(&rcx, in->b, 8);
  uint64_t rdx = in->aux >> 8; /* pcmpestr lengths: eax = aux & 0xff (signed), edx = aux >> 8 */
  if (in->op >= OP_pcmpestri && in->op <= OP_pcmpestrm) {
    rax = (uint64_t)(int64_t)(int8_t)(in->aux & 0xff);
    rdx = (uint64_t)(int64_t)(int8_t)((in->aux >> 8) & 0xff);
  }
#define BODY(s, ...)                                                                                 \
  __asm__ volatile("ldmxcsr %[mx]\n movups %[x0], %%xmm0\n movups %[x1], %%xmm1\n movups %[x2], %%xmm2\n " s \
                   "\n pushfq\n popq %[fl]\n stmxcsr %[mxo]\n movups %%xmm0, %[x0]\n movups %%xmm1, %[x1]"  \
                   : [x0] "+m"(x0), [x1] "+m"(x1), [mxo] "=m"(mxo), [fl] "=r"(fl), "+a"(rax), "+c"(rcx), "+d"(rdx) \
                   : [mx] "m"(mx), [x2] "m"(x2), ##__VA_ARGS__                                      \
                   : "xmm0", "xmm1", "xmm2", "memory", "cc")
  switch (in->op) {
#define C(n, s)                                                                                      \
  case OP_##n:                                                                                       \
    BODY(s);                                                                          \
    break;
    SSE_OPS(C)
#undef C
#define CI1(v, s) case v: BODY(s, [i] "i"(v)); break;
#define CI(n, s, k)                                                                                  \
  case OP_##n:                                                                                       \
    switch (in->imm & (k - 1)) {                                                                     \
      IMMCASES_##k(s)                                                                                \
    }                                                                                                \
    break;
#define IMMCASES_8(s) CI1(0, s) CI1(1, s) CI1(2, s) CI1(3, s) CI1(4, s) CI1(5, s) CI1(6, s) CI1(7, s)
#define IMMCASES_16(s) IMMCASES_8(s) CI1(8, s) CI1(9, s) CI1(10, s) CI1(11, s) CI1(12, s) CI1(13, s) CI1(14, s) CI1(15, s)
#define IMMR16(b, s) CI1(b + 0, s) CI1(b + 1, s) CI1(b + 2, s) CI1(b + 3, s) CI1(b + 4, s) CI1(b + 5, s) CI1(b + 6, s) CI1(b + 7, s) \
  CI1(b + 8, s) CI1(b + 9, s) CI1(b + 10, s) CI1(b + 11, s) CI1(b + 12, s) CI1(b + 13, s) CI1(b + 14, s) CI1(b + 15, s)
#define IMMCASES_32(s) IMMR16(0, s) IMMR16(16, s)
#define IMMCASES_256(s) IMMR16(0, s) IMMR16(16, s) IMMR16(32, s) IMMR16(48, s) IMMR16(64, s) IMMR16(80, s) IMMR16(96, s) \
  IMMR16(112, s) IMMR16(128, s) IMMR16(144, s) IMMR16(160, s) IMMR16(176, s) IMMR16(192, s) IMMR16(208, s) IMMR16(224, s) IMMR16(240, s)
    IMM_OPS(CI)
  }
  memcpy(out, x0, 16);
  memcpy(out + 16, &mxo, 4);
  uint32_t f32 = (uint32_t)fl;
  memcpy(out + 20, &f32, 4);
  memcpy(out + 32, &rax, 8);
  memcpy(out + 40, x1, 16);
  memcpy(out + 56, &rcx, 8);
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--list")) {
    for (unsigned i = 0; i < OP_END; i++) printf("%s\n", names[i]);
    return 0;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fpe;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGFPE, &sa, NULL);
  sigaction(SIGILL, &sa, NULL); /* an instruction this CPU lacks: reported as signal 4 */
  static rec_in in[4096];
  static uint8_t out[4096][128];
  size_t n;
  while ((n = fread(in, sizeof in[0], 4096, stdin)) > 0) {
    memset(out, 0, n * 128);
    for (size_t i = 0; i < n; i++) {
      if (in[i].op < OP_X87_END) run_x87(&in[i], out[i]);
      else if (in[i].op > OP_X87_END && in[i].op < OP_END) {
        {
          fault_sig = 0;
          if (sigsetjmp(jb, 1)) {
            uint32_t m = fault_mxcsr, s = (uint32_t)fault_sig;
            memset(out[i], 0, 128);
            memcpy(out[i] + 16, &m, 4);
            memcpy(out[i] + 24, &s, 4);
            continue;
          }
        }
        run_sse(&in[i], out[i]);
      }
    }
    fwrite(out, 128, n, stdout);
  }
  return 0;
}
