/**
 * The XMM register file over the vCPU's FXSAVE image (MXCSR at byte 24, XMM n at 160 + 16n) and
 * the SSE2/SSSE3/SSE4.1/SSE4.2 operations that never consult MXCSR: packed integer arithmetic,
 * packs, shuffles, min/max, sums of absolute differences, PTEST and the PCMPxSTRx string compares.
 * {@link Sse} (sse.ts) extends it with the MXCSR-honouring floating point. Allocation-free.
 * @module
 */

/** The register file and the second-source scratch, with the packed-integer operations. */
export class XmmFile {
  readonly fx: Uint8Array;
  /** The FXSAVE image as int32 words: MXCSR = w[6], XMM n = w[40 + 4n .. 43 + 4n]. */
  readonly w: Int32Array;
  readonly b: Uint8Array;
  readonly h: Uint16Array;
  /** The second source operand (fill with srcReg/srcMem before an operation). */
  readonly src = new Int32Array(4);
  readonly srcB: Uint8Array;
  readonly srcH: Uint16Array;
  /** RFLAGS bits (ZF PF CF OF SF AF subset) produced by the last COMIS/PTEST/PCMPxSTRx. */
  eflags = 0;

  constructor(fx: Uint8Array) {
    if (fx.byteOffset & 3 || fx.length < 512) throw new Error('sse: the FXSAVE image must be 512 bytes, 4-byte aligned');
    this.fx = fx;
    this.w = new Int32Array(fx.buffer, fx.byteOffset, 128);
    this.b = fx;
    this.h = new Uint16Array(fx.buffer, fx.byteOffset, 256);
    this.srcB = new Uint8Array(this.src.buffer);
    this.srcH = new Uint16Array(this.src.buffer);
  }

  get mxcsr(): number {
    return this.w[6]!;
  }
  set mxcsr(v: number) {
    this.w[6] = v;
  }

  /** src = XMM n. */
  srcReg(n: number): void {
    const o = 40 + 4 * n, w = this.w, s = this.src;
    s[0] = w[o]!;
    s[1] = w[o + 1]!;
    s[2] = w[o + 2]!;
    s[3] = w[o + 3]!;
  }
  /** src = four little-endian words read from memory (unused ones 0). */
  srcMem(w0: number, w1: number, w2: number, w3: number): void {
    const s = this.src;
    s[0] = w0;
    s[1] = w1;
    s[2] = w2;
    s[3] = w3;
  }

  // ---- packed integer helpers ------------------------------------------------------------
  // Each works on the register at byte offset `o` of the image (XMM n: 160 + 16n; MMX n: the
  // low 8 bytes of ST slot n, 32 + 16n) with `n` bytes (16 or 8) and the source scratch.

  private readonly sb8 = new Int8Array(this.src.buffer);
  private readonly sh16 = new Int16Array(this.src.buffer);
  private get i8(): Int8Array {
    return (this._i8 ??= new Int8Array(this.fx.buffer, this.fx.byteOffset, 512));
  }
  private get i16(): Int16Array {
    return (this._i16 ??= new Int16Array(this.fx.buffer, this.fx.byteOffset, 256));
  }
  private _i8: Int8Array | undefined;
  private _i16: Int16Array | undefined;
  private readonly tb = new Uint8Array(16);
  private readonly tw = new Int32Array(this.tb.buffer);
  private readonly th = new Int16Array(this.tb.buffer);
  private readonly tuh = new Uint16Array(this.tb.buffer);

  /** The elements of the string operands: ea (the register), eb (the source). */
  private readonly ea = new Int32Array(16);
  private readonly eb = new Int32Array(16);

  /** PMADDWD: signed word products, adjacent pairs summed into dwords. */
  pmaddwd(o: number, n: number): void {
    const d = this.i16, s = this.sh16, w = this.w;
    for (let k = 0; k < n / 4; k++) {
      const i = (o >> 1) + 2 * k;
      w[(o >> 2) + k] = (d[i]! * s[2 * k]! + d[i + 1]! * s[2 * k + 1]!) | 0;
    }
  }
  /** PSADBW: per 8-byte group, the sum of absolute byte differences in the low word. */
  psadbw(o: number, n: number): void {
    const d = this.b, s = this.srcB, w = this.w;
    for (let g = 0; g < n / 8; g++) {
      let sum = 0;
      for (let k = 0; k < 8; k++) sum += Math.abs(d[o + 8 * g + k]! - s[8 * g + k]!);
      w[(o >> 2) + 2 * g] = sum;
      w[(o >> 2) + 2 * g + 1] = 0;
    }
  }
  /** PMULHUW (signed = false) / PMULHW: high word of the word products. */
  pmulhw(o: number, n: number, signed: boolean): void {
    const h = this.h, sh = this.srcH, d = this.i16, ss = this.sh16;
    for (let k = 0; k < n / 2; k++) {
      const i = (o >> 1) + k;
      h[i] = signed ? (d[i]! * ss[k]!) >> 16 : (h[i]! * sh[k]!) / 65536;
    }
  }
  /** PMULHRSW: rounded, scaled signed word products. */
  pmulhrsw(o: number, n: number): void {
    const d = this.i16, s = this.sh16;
    for (let k = 0; k < n / 2; k++) {
      const i = (o >> 1) + k;
      d[i] = ((d[i]! * s[k]!) >> 14) + 1 >> 1;
    }
  }
  /** PMULUDQ: unsigned dword 0 (and 2) products as quadwords. */
  pmuludq(o: number, n: number): void {
    const w = this.w, s = this.src;
    for (let k = 0; k < n / 8; k++) {
      const i = (o >> 2) + 2 * k;
      const a = w[i]! >>> 0, b = s[2 * k]! >>> 0;
      const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
      const ll = al * bl, mid = ah * bl + al * bh, hh = ah * bh;
      // a*b = hh*2^32 + mid*2^16 + ll, mid < 2^33
      const lo = ll + (mid % 65536) * 65536;
      const carry = Math.floor(lo / 4294967296);
      w[i] = lo | 0;
      w[i + 1] = (hh + Math.floor(mid / 65536) + carry) | 0;
    }
  }
  /** PMULLD: low dwords of signed products. */
  pmulld(o: number, n: number): void {
    const w = this.w, s = this.src;
    for (let k = 0; k < n / 4; k++) w[(o >> 2) + k] = Math.imul(w[(o >> 2) + k]!, s[k]!);
  }
  /** PMADDUBSW: unsigned bytes of the destination × signed bytes of the source, pairs summed with signed saturation. */
  pmaddubsw(o: number, n: number): void {
    const d = this.b, s = this.sb8, h = this.i16;
    for (let k = 0; k < n / 2; k++) {
      const v = d[o + 2 * k]! * s[2 * k]! + d[o + 2 * k + 1]! * s[2 * k + 1]!;
      h[(o >> 1) + k] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
    }
  }
  /**
   * PACKSSWB / PACKUSWB (words to bytes) and PACKSSDW / PACKUSDW (dwords to words): the
   * destination's elements then the source's, each saturated (signed or unsigned).
   */
  pack(o: number, n: number, fromWords: boolean, unsigned: boolean): void {
    const tb = this.tb;
    const lo = unsigned ? 0 : fromWords ? -128 : -32768;
    const hi = unsigned ? (fromWords ? 255 : 65535) : fromWords ? 127 : 32767;
    const d16 = this.i16, s16 = this.sh16, w = this.w, s32 = this.src;
    const per = fromWords ? n / 2 : n / 4; // elements per operand
    for (let k = 0; k < 2 * per; k++) {
      const src = k < per;
      const j = src ? k : k - per;
      let v = fromWords ? (src ? d16[(o >> 1) + j]! : s16[j]!) : src ? w[(o >> 2) + j]! : s32[j]!;
      v = v < lo ? lo : v > hi ? hi : v;
      if (fromWords) tb[k] = v & 0xff;
      else {
        tb[2 * k] = v & 0xff;
        tb[2 * k + 1] = (v >> 8) & 0xff;
      }
    }
    this.fx.set(tb.subarray(0, n), o);
  }
  /** PSHUFB: bytes selected by the source's indices (bit 7 set: zero). */
  pshufb(o: number, n: number): void {
    const tb = this.tb, d = this.b, s = this.srcB;
    for (let k = 0; k < n; k++) {
      const x = s[k]!;
      tb[k] = x & 0x80 ? 0 : d[o + (x & (n - 1))]!;
    }
    this.fx.set(tb.subarray(0, n), o);
  }
  /** PADDSB/PSUBSB (signed bytes), PADDUSB/PSUBUSB (unsigned), and the word forms: saturating add/sub. */
  addSat(o: number, n: number, words: boolean, unsigned: boolean, sub: boolean): void {
    const lo = unsigned ? 0 : words ? -32768 : -128;
    const hi = unsigned ? (words ? 65535 : 255) : words ? 32767 : 127;
    if (words) {
      const d = unsigned ? this.h : this.i16, s = unsigned ? this.srcH : this.sh16;
      for (let k = 0; k < n / 2; k++) {
        const i = (o >> 1) + k;
        const v = sub ? d[i]! - s[k]! : d[i]! + s[k]!;
        d[i] = v < lo ? lo : v > hi ? hi : v;
      }
    } else {
      const d = unsigned ? this.b : this.i8, s = unsigned ? this.srcB : this.sb8;
      for (let k = 0; k < n; k++) {
        const v = sub ? d[o + k]! - s[k]! : d[o + k]! + s[k]!;
        d[o + k] = v < lo ? lo : v > hi ? hi : v;
      }
    }
  }
  /** PAVGB / PAVGW: rounded unsigned averages. */
  pavg(o: number, n: number, words: boolean): void {
    if (words) for (let k = 0; k < n / 2; k++) this.h[(o >> 1) + k] = (this.h[(o >> 1) + k]! + this.srcH[k]! + 1) >> 1;
    else for (let k = 0; k < n; k++) this.b[o + k] = (this.b[o + k]! + this.srcB[k]! + 1) >> 1;
  }
  /** PHADDW/PHADDSW/PHSUBW/PHSUBSW (words) and PHADDD/PHSUBD (dwords): horizontal pairs, destination then source. */
  hint(o: number, n: number, dwords: boolean, sub: boolean, sat: boolean): void {
    const tb = this.tb, tw = this.tw, th = this.th;
    const per = dwords ? n / 8 : n / 4; // results per operand
    for (let k = 0; k < 2 * per; k++) {
      const fromDst = k < per, j = fromDst ? k : k - per;
      if (dwords) {
        const a = fromDst ? this.w[(o >> 2) + 2 * j]! : this.src[2 * j]!, b = fromDst ? this.w[(o >> 2) + 2 * j + 1]! : this.src[2 * j + 1]!;
        tw[k] = (sub ? a - b : a + b) | 0;
      } else {
        const a = fromDst ? this.i16[(o >> 1) + 2 * j]! : this.sh16[2 * j]!, b = fromDst ? this.i16[(o >> 1) + 2 * j + 1]! : this.sh16[2 * j + 1]!;
        let v = sub ? a - b : a + b;
        if (sat) v = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
        th[k] = v;
      }
    }
    this.fx.set(tb.subarray(0, n), o);
  }
  /** PMINSB/PMINSW/PMINSD/PMINUB/PMINUW/PMINUD and the MAX forms (size 1, 2, 4 bytes). */
  minmaxInt(o: number, n: number, size: number, unsigned: boolean, max: boolean): void {
    for (let k = 0; k < n / size; k++) {
      let a: number, b: number;
      if (size === 1) {
        a = unsigned ? this.b[o + k]! : this.i8[o + k]!;
        b = unsigned ? this.srcB[k]! : this.sb8[k]!;
      } else if (size === 2) {
        a = unsigned ? this.h[(o >> 1) + k]! : this.i16[(o >> 1) + k]!;
        b = unsigned ? this.srcH[k]! : this.sh16[k]!;
      } else {
        a = unsigned ? this.w[(o >> 2) + k]! >>> 0 : this.w[(o >> 2) + k]!;
        b = unsigned ? this.src[k]! >>> 0 : this.src[k]!;
      }
      const r = max ? (a > b ? a : b) : a < b ? a : b;
      if (size === 1) this.b[o + k] = r;
      else if (size === 2) this.h[(o >> 1) + k] = r;
      else this.w[(o >> 2) + k] = r | 0;
    }
  }
  /** PHMINPOSUW: the smallest unsigned word of the source and its (lowest) index; the rest zero. */
  phminposuw(o: number): void {
    let m = 65536, idx = 0;
    for (let k = 0; k < 8; k++) {
      const v = this.srcH[k]!;
      if (v < m) {
        m = v;
        idx = k;
      }
    }
    const w = this.w;
    w[o >> 2] = m | (idx << 16);
    w[(o >> 2) + 1] = 0;
    w[(o >> 2) + 2] = 0;
    w[(o >> 2) + 3] = 0;
  }
  /** MPSADBW imm: eight sums of absolute differences of 4-byte blocks. */
  mpsadbw(o: number, imm: number): void {
    const d = this.b, s = this.srcB, tb = this.tb, th = this.tuh;
    const so = (imm & 3) * 4, dO = o + (imm & 4);
    for (let i = 0; i < 8; i++) {
      let sum = 0;
      for (let j = 0; j < 4; j++) sum += Math.abs(d[dO + i + j]! - s[so + j]!);
      th[i] = sum;
    }
    this.fx.set(tb, o);
  }
  /** PMOVMSKB: the bytes' sign bits. */
  pmovmskb(n: number): number {
    let m = 0;
    for (let k = 0; k < n; k++) m |= (this.srcB[k]! >>> 7) << k;
    return m;
  }
  /** PTEST: eflags = ZF ((dst AND src) = 0) | CF ((NOT dst AND src) = 0). */
  ptest(o: number): void {
    let z = 0, c = 0;
    for (let k = 0; k < 4; k++) {
      const d = this.w[(o >> 2) + k]!, s = this.src[k]!;
      z |= d & s;
      c |= ~d & s;
    }
    this.eflags = (z === 0 ? 0x40 : 0) | (c === 0 ? 1 : 0);
  }

  /**
   * PCMPESTRI/PCMPESTRM/PCMPISTRI/PCMPISTRM: compares XMM a (at byte offset o) with src per imm.
   * Explicit forms: lenA/lenB are EAX/EDX (RAX/RDX) as signed values; implicit forms end each
   * operand at its first zero element. Returns the index (the I forms: ECX); the M forms (`mask`)
   * write the mask to XMM0. eflags = CF ZF SF OF (AF = PF = 0).
   */
  pcmpstr(o: number, imm: number, lenA: number, lenB: number, implicit: boolean, mask: boolean): number {
    const words = (imm & 1) !== 0, signed = (imm & 2) !== 0;
    const cnt = words ? 8 : 16;
    const A = this.ea, B = this.eb;
    for (let i = 0; i < cnt; i++) {
      if (words) {
        A[i] = signed ? this.i16[(o >> 1) + i]! : this.h[(o >> 1) + i]!;
        B[i] = signed ? this.sh16[i]! : this.srcH[i]!;
      } else {
        A[i] = signed ? this.i8[o + i]! : this.b[o + i]!;
        B[i] = signed ? this.sb8[i]! : this.srcB[i]!;
      }
    }
    let la: number, lb: number;
    if (implicit) {
      la = cnt;
      lb = cnt;
      for (let i = cnt - 1; i >= 0; i--) {
        if (A[i] === 0) la = i;
        if (B[i] === 0) lb = i;
      }
    } else {
      la = Math.min(Math.abs(lenA), cnt);
      lb = Math.min(Math.abs(lenB), cnt);
    }
    const agg = (imm >>> 2) & 3;
    let res = 0;
    for (let i = 0; i < cnt; i++) {
      // i indexes the source (B, the string), j the register (A, the set / pattern).
      let r = 0;
      if (agg === 0) {
        if (i < lb) {
          const b = B[i]!;
          for (let j = 0; j < la; j++) {
            if (A[j] === b) {
              r = 1;
              break;
            }
          }
        }
      } else if (agg === 1) {
        if (i < lb) {
          const b = B[i]!;
          for (let j = 0; j + 1 < la; j += 2) {
            if (b >= A[j]! && b <= A[j + 1]!) {
              r = 1;
              break;
            }
          }
        }
      } else if (agg === 2) {
        r = i < la && i < lb ? (A[i] === B[i] ? 1 : 0) : i >= la && i >= lb ? 1 : 0;
      } else {
        r = 1;
        for (let j = 0; j < cnt - i && j < la; j++) {
          // The pattern's element j against the string's i + j (past the string's end: no match).
          if (i + j >= lb || A[j] !== B[i + j]) {
            r = 0;
            break;
          }
        }
      }
      res |= r << i;
    }
    const pol = (imm >>> 4) & 3;
    const all = words ? 0xff : 0xffff;
    if (pol === 1) res ^= all;
    else if (pol === 3) res ^= (1 << lb) - 1;
    this.eflags = (res ? 1 : 0) | (lb < cnt ? 0x40 : 0) | (la < cnt ? 0x80 : 0) | (res & 1 ? 0x800 : 0);
    if (mask) {
      const w = this.w;
      if (imm & 0x40) {
        for (let i = 0; i < cnt; i++) {
          const v = (res >>> i) & 1 ? -1 : 0;
          if (words) this.h[80 + i] = v & 0xffff;
          else this.b[160 + i] = v & 0xff;
        }
      } else {
        w[40] = res;
        w[41] = 0;
        w[42] = 0;
        w[43] = 0;
      }
      return 0;
    }
    if (!res) return cnt;
    return imm & 0x40 ? 31 - Math.clz32(res) : 31 - Math.clz32(res & -res);
  }
}
