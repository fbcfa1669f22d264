/**
 * The one-byte opcode map (SDM Vol. 2 App. A Table A-2) in opcodes.ts's notation; the ALU block
 * and groups 1 and 2 are generated (shapes.ts).
 * @module
 */
import { alu, GROUP1, GROUP2, rows } from './shapes.js';

/** The one-byte map. */
export const ONE_BYTE_MAP = `
# ---- one-byte map
${alu(0x00, 'ADD')}
06 PUSH ES i64
07 POP ES i64 end
${alu(0x08, 'OR')}
0E PUSH CS i64
${alu(0x10, 'ADC')}
16 PUSH SS i64
17 POP SS i64 end
${alu(0x18, 'SBB')}
1E PUSH DS i64
1F POP DS i64 end
${alu(0x20, 'AND')}
27 DAA i64
${alu(0x28, 'SUB')}
2F DAS i64
${alu(0x30, 'XOR')}
37 AAA i64
${alu(0x38, 'CMP')}
3F AAS i64
40+r INC Zv i64
48+r DEC Zv i64
50+r PUSH Zv d64
58+r POP Zv d64
60 PUSHA i64
61 POPA i64
62 /r mem BOUND Gv,M i64
63 /r ARPL Ew,Gw i64
63 /r MOVSXD Gv,Ed o64
68 PUSH Iz d64
69 /r IMUL Gv,Ev,Iz
6A PUSH Ib d64
6B /r IMUL Gv,Ev,Ib
6C INS Yb,DX rep end
6D INS Yz,DX rep end
6E OUTS DX,Xb rep end
6F OUTS DX,Xz rep end
70+cc Jcc Jb f64 end
${rows('80 /@ $ Eb,Ib %', GROUP1)}
${rows('81 /@ $ Ev,Iz %', GROUP1)}
${rows('82 /@ $ Eb,Ib % i64', GROUP1)}
${rows('83 /@ $ Ev,Ib %', GROUP1)}
84 /r TEST Eb,Gb
85 /r TEST Ev,Gv
86 /r XCHG Eb,Gb L
87 /r XCHG Ev,Gv L
88 /r MOV Eb,Gb
89 /r MOV Ev,Gv
8A /r MOV Gb,Eb
8B /r MOV Gv,Ev
8C /r MOV Ev,Sw
8D /r mem LEA Gv,M
8E /r MOV Sw,Ew end
8F /0 POP Ev d64
90 NOP
F3 90 PAUSE SSE2
90+r XCHG Zv,rAX
98 CBW
99 CWD
9A CALLF Ap i64 end
9B FWAIT FPU
9C PUSHF d64
9D POPF d64 end
9E SAHF LAHF_LM
9F LAHF LAHF_LM
A0 MOV AL,Ob
A1 MOV rAX,Ov
A2 MOV Ob,AL
A3 MOV Ov,rAX
A4 MOVS Yb,Xb rep end
A5 MOVS Yv,Xv rep end
A6 CMPS Xb,Yb rep end
A7 CMPS Xv,Yv rep end
A8 TEST AL,Ib
A9 TEST rAX,Iz
AA STOS Yb,AL rep end
AB STOS Yv,rAX rep end
AC LODS AL,Xb rep end
AD LODS rAX,Xv rep end
AE SCAS AL,Yb rep end
AF SCAS rAX,Yv rep end
B0+r MOV Zb,Ib
B8+r MOV Zv,Iv
${rows('C0 /@ $ Eb,Ib', GROUP2)}
${rows('C1 /@ $ Ev,Ib', GROUP2)}
C2 RET Iw f64 end
C3 RET f64 end
C4 /r mem LES Gz,Mp i64 end
C5 /r mem LDS Gz,Mp i64 end
C6 /0 MOV Eb,Ib
C7 /0 MOV Ev,Iz
C8 ENTER Iw,Ib d64 end
C9 LEAVE d64
CA RETF Iw end
CB RETF end
CC INT3 end
CD INT Ib end
CE INTO i64 end
CF IRET end
${rows('D0 /@ $ Eb,ONE', GROUP2)}
${rows('D1 /@ $ Ev,ONE', GROUP2)}
${rows('D2 /@ $ Eb,CL', GROUP2)}
${rows('D3 /@ $ Ev,CL', GROUP2)}
D4 AAM Ib i64
D5 AAD Ib i64
D6 SALC i64
D7 XLAT
E0 LOOPNE Jb f64 end
E1 LOOPE Jb f64 end
E2 LOOP Jb f64 end
E3 JRCXZ Jb f64 end
E4 IN AL,Ib end
E5 IN eAX,Ib end
E6 OUT Ib,AL end
E7 OUT Ib,eAX end
E8 CALL Jz f64 end
E9 JMP Jz f64 end
EA JMPF Ap i64 end
EB JMP Jb f64 end
EC IN AL,DX end
ED IN eAX,DX end
EE OUT DX,AL end
EF OUT DX,eAX end
F1 INT1 end
F4 HLT end
F5 CMC
F6 /0 TEST Eb,Ib
F6 /1 TEST Eb,Ib
F6 /2 NOT Eb L
F6 /3 NEG Eb L
F6 /4 MUL Eb
F6 /5 IMUL Eb
F6 /6 DIV Eb
F6 /7 IDIV Eb
F7 /0 TEST Ev,Iz
F7 /1 TEST Ev,Iz
F7 /2 NOT Ev L
F7 /3 NEG Ev L
F7 /4 MUL Ev
F7 /5 IMUL Ev
F7 /6 DIV Ev
F7 /7 IDIV Ev
F8 CLC
F9 STC
FA CLI end
FB STI end
FC CLD
FD STD
FE /0 INC Eb L
FE /1 DEC Eb L
FF /0 INC Ev L
FF /1 DEC Ev L
FF /2 CALL Ev f64 end
FF /3 mem CALLF Mp end
FF /4 JMP Ev f64 end
FF /5 mem JMPF Mp end
FF /6 PUSH Ev d64`;
