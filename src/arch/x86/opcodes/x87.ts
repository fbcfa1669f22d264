/**
 * The x87 rows (SDM Vol. 2 App. A Tables A-7..A-22): D8-DF, memory forms by ModRM.reg, register
 * forms by ModRM.reg or the whole ModRM byte. The eight-operation arithmetic groups and the
 * no-operand D9 forms are generated (shapes.ts); the notation is opcodes.ts's.
 * @module
 */
import { rows } from './shapes.js';

/** The arithmetic/compare group of D8/DC (real) and DA/DE (integer) memory forms, by ModRM.reg. */
const ARITH = '0 FADD, 1 FMUL, 2 FCOM, 3 FCOMP, 4 FSUB, 5 FSUBR, 6 FDIV, 7 FDIVR';
const IARITH = '0 FIADD, 1 FIMUL, 2 FICOM, 3 FICOMP, 4 FISUB, 5 FISUBR, 6 FIDIV, 7 FIDIVR';
/** FCMOVcc: DA /0-/3 (B, E, BE, U), DB /0-/3 their negations. */
const FCMOV = '0, 1, 2, 3';

/** D8-DF. */
export const X87_MAP = `
# ---- x87 (SDM App. A Tables A-7..A-22): D8-DF, memory forms by ModRM.reg, register forms by reg or the whole ModRM
${rows('D8 /@ mem $ m32fp FPU', ARITH)}
D8 /0 reg FADD ST(0),ST(i) FPU
D8 /1 reg FMUL ST(0),ST(i) FPU
D8 /2 reg FCOM ST(i) FPU
D8 /3 reg FCOMP ST(i) FPU
D8 /4 reg FSUB ST(0),ST(i) FPU
D8 /5 reg FSUBR ST(0),ST(i) FPU
D8 /6 reg FDIV ST(0),ST(i) FPU
D8 /7 reg FDIVR ST(0),ST(i) FPU
D9 /0 mem FLD m32fp FPU
D9 /2 mem FST m32fp FPU
D9 /3 mem FSTP m32fp FPU
D9 /4 mem FLDENV m14/28byte FPU
D9 /5 mem FLDCW m2byte FPU
D9 /6 mem FNSTENV m14/28byte FPU nw
D9 /7 mem FNSTCW m2byte FPU nw
D9 /0 reg FLD ST(i) FPU
D9 /1 reg FXCH ST(i) FPU
D9 =D0 FNOP FPU x87
D9 /3 reg FSTP ST(i) FPU
${rows('D9 =@ $ FPU x87', `E0 FCHS, E1 FABS, E4 FTST, E5 FXAM, E8 FLD1, E9 FLDL2T, EA FLDL2E, EB FLDPI, EC FLDLG2,
  ED FLDLN2, EE FLDZ, F0 F2XM1, F1 FYL2X, F2 FPTAN, F3 FPATAN, F4 FXTRACT, F5 FPREM1, F6 FDECSTP, F7 FINCSTP,
  F8 FPREM, F9 FYL2XP1, FA FSQRT, FB FSINCOS, FC FRNDINT, FD FSCALE, FE FSIN, FF FCOS`)}
${rows('DA /@ mem $ m32int FPU', IARITH)}
${rows('DA /@ reg FCMOVcc ST(0),ST(i) CMOV', FCMOV)}
DA =E9 FUCOMPP FPU x87
DB /0 mem FILD m32int FPU
DB /1 mem FISTTP m32int SSE3
DB /2 mem FIST m32int FPU
DB /3 mem FISTP m32int FPU
DB /5 mem FLD m80fp FPU
DB /7 mem FSTP m80fp FPU
${rows('DB /@ reg FCMOVcc ST(0),ST(i) CMOV', FCMOV)}
DB =E0 FNENI nw
DB =E1 FNDISI nw
DB =E2 FNCLEX FPU nw
DB =E3 FNINIT FPU nw
DB =E4 FNSETPM nw
DB /5 reg FUCOMI ST(0),ST(i) CMOV
DB /6 reg FCOMI ST(0),ST(i) CMOV
${rows('DC /@ mem $ m64fp FPU', ARITH)}
DC /0 reg FADD ST(i),ST(0) FPU
DC /1 reg FMUL ST(i),ST(0) FPU
DC /2 reg FCOM ST(i) FPU
DC /3 reg FCOMP ST(i) FPU
DC /4 reg FSUBR ST(i),ST(0) FPU
DC /5 reg FSUB ST(i),ST(0) FPU
DC /6 reg FDIVR ST(i),ST(0) FPU
DC /7 reg FDIV ST(i),ST(0) FPU
DD /0 mem FLD m64fp FPU
DD /1 mem FISTTP m64int SSE3
DD /2 mem FST m64fp FPU
DD /3 mem FSTP m64fp FPU
DD /4 mem FRSTOR m94/108byte FPU
DD /6 mem FNSAVE m94/108byte FPU nw
DD /7 mem FNSTSW m2byte FPU nw
DD /0 reg FFREE ST(i) FPU
DD /1 reg FXCH ST(i) FPU
DD /2 reg FST ST(i) FPU
DD /3 reg FSTP ST(i) FPU
DD /4 reg FUCOM ST(i) FPU
DD /5 reg FUCOMP ST(i) FPU
${rows('DE /@ mem $ m16int FPU', IARITH)}
DE /0 reg FADDP ST(i),ST(0) FPU
DE /1 reg FMULP ST(i),ST(0) FPU
DE /2 reg FCOMP ST(i) FPU
DE =D9 FCOMPP FPU x87
DE /4 reg FSUBRP ST(i),ST(0) FPU
DE /5 reg FSUBP ST(i),ST(0) FPU
DE /6 reg FDIVRP ST(i),ST(0) FPU
DE /7 reg FDIVP ST(i),ST(0) FPU
DF /0 mem FILD m16int FPU
DF /1 mem FISTTP m16int SSE3
DF /2 mem FIST m16int FPU
DF /3 mem FISTP m16int FPU
DF /4 mem FBLD m80bcd FPU
DF /5 mem FILD m64int FPU
DF /6 mem FBSTP m80bcd FPU
DF /7 mem FISTP m64int FPU
DF /0 reg FFREEP ST(i)
DF /1 reg FXCH ST(i) FPU
DF /2 reg FSTP ST(i) FPU
DF /3 reg FSTP ST(i) FPU
DF =E0 FNSTSW AX FPU nw
DF /5 reg FUCOMIP ST(0),ST(i) CMOV
DF /6 reg FCOMIP ST(0),ST(i) CMOV`;
