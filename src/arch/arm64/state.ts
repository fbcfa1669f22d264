/**
 * arm64 vCPU architectural state: X registers as lo/hi int32 pairs (no BigInt in the hot path),
 * PSTATE, the EL1 banked registers and the system registers by their (op0,op1,CRn,CRm,op2) key.
 * @module
 */

/** PSTATE bits (SPSR layout). */
export const PSTATE = {
  N: 1 << 31, Z: 1 << 30, C: 1 << 29, V: 1 << 28, SS: 1 << 21, IL: 1 << 20, D: 1 << 9, A: 1 << 8, I: 1 << 7, F: 1 << 6,
  /** M[3:0]: EL1h */
  EL1h: 0b0101,
  EL1t: 0b0100,
  EL0t: 0b0000,
} as const;

/** A system register key: op0<<14 | op1<<11 | CRn<<7 | CRm<<3 | op2 (the ONE_REG sysreg index). */
export const sysreg = (op0: number, op1: number, crn: number, crm: number, op2: number): number =>
  ((op0 & 3) << 14) | ((op1 & 7) << 11) | ((crn & 15) << 7) | ((crm & 15) << 3) | (op2 & 7);

export class Arm64State {
  /** X0-X30: x[2i] low, x[2i+1] high. */
  readonly x = new Int32Array(62);
  /** SP_EL0 and SP_EL1 as lo/hi pairs: [sp0lo, sp0hi, sp1lo, sp1hi]. */
  readonly sp = new Int32Array(4);
  pc = 0;
  /** PSTATE in SPSR format; reset: EL1h with D, A, I, F masked. */
  pstate = PSTATE.D | PSTATE.A | PSTATE.I | PSTATE.F | PSTATE.EL1h;
  elrEl1 = 0n;
  /** SPSR_EL1, SPSR_abt, _und, _irq, _fiq (KVM_NR_SPSR = 5). */
  readonly spsr: bigint[] = [0n, 0n, 0n, 0n, 0n];
  /** V0-V31, 16 bytes each. */
  readonly v = new Uint8Array(32 * 16);
  fpsr = 0;
  fpcr = 0;
  /** System registers by sysreg key. */
  readonly sys = new Map<number, bigint>();

  getX(i: number): bigint {
    return (BigInt(this.x[2 * i + 1]! >>> 0) << 32n) | BigInt(this.x[2 * i]! >>> 0);
  }

  setX(i: number, v: bigint): void {
    this.x[2 * i] = Number(v & 0xffffffffn) | 0;
    this.x[2 * i + 1] = Number((v >> 32n) & 0xffffffffn) | 0;
  }

  getSp(el: 0 | 1): bigint {
    return (BigInt(this.sp[2 * el + 1]! >>> 0) << 32n) | BigInt(this.sp[2 * el]! >>> 0);
  }

  setSp(el: 0 | 1, v: bigint): void {
    this.sp[2 * el] = Number(v & 0xffffffffn) | 0;
    this.sp[2 * el + 1] = Number((v >> 32n) & 0xffffffffn) | 0;
  }
}
