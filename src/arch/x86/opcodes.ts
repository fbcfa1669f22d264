/**
 * The x86 opcode map as data, in the notation of the Intel SDM (Vol. 2, App. A and the
 * instruction pages): one row per encoding of a mnemonic —
 *
 *     [prefixes] <opcode bytes> [ModRM selector] [W0|W1] <MNEMONIC> [operands] [attributes]
 *
 * Prefixes (the mandatory-prefix column): none — 66/F2/F3 act as legacy prefixes (operand size,
 * REP); `NP`, `66`, `F3`, `F2` — the row is valid only with exactly that mandatory prefix (F2/F3
 * win over 66; another prefix selects another row or is #UD, as the hardware does); `NP|66` — an
 * MMX form without a prefix and the SSE2 form with 66, P/Q/N operands becoming V/W/U (xmm).
 *
 * Opcode bytes: hex, in the maps `XX` (one byte), `0F XX`, `0F 38 XX`, `0F 3A XX`; `+r` adds a
 * register in the low three bits (8 opcodes), `+cc` a condition code in the low four (16:
 * Jcc, SETcc, CMOVcc). ModRM: `/n` selects ModRM.reg, `/r` marks a ModRM; `mem`/`reg` restrict
 * ModRM.mod; `=XX` pins the whole ModRM byte (0F 01 C1 VMCALL...). `W0`/`W1` select on REX.W.
 *
 * Operands (SDM App. A letters): E r/m, G reg, M memory only, R register (ModRM.rm), S segment
 * register, C/D control/debug register, I immediate, J relative offset, O moffs, A far pointer,
 * Z register in the opcode's low bits, X/Y string source/destination, V/W/U xmm reg / xmm r/m /
 * xmm register in ModRM.rm, P/Q/N the MMX equivalents, fixed registers (AL, rAX, DX, CL, ONE).
 * Sizes: b byte, w word, d dword, q qword, v 16/32/64 by operand size, z 16/32 (imm32
 * sign-extended in 64-bit), y 32/64, p far pointer, s pseudo-descriptor, x 128-bit. x87
 * operands use the SDM's own names: ST(0), ST(i), m32fp, m64fp, m80fp, m16int, m32int, m64int,
 * m80bcd, m2byte, m14/28byte, m94/108byte; and m512byte (FXSAVE).
 *
 * Attributes: L lockable, i64 invalid in 64-bit mode, o64 only in 64-bit mode, d64 default
 * 64-bit operand size in long mode, f64 forced 64-bit (near branches), rep takes REP prefixes,
 * end ends a decoded block (control flow, mode or translation changes, exits); the CPUID feature
 * that provides the instruction (features.ts: `SSE2`; `MMX/SSE2` on `NP|66` rows); the SDM
 * exception class where the operands do not imply it (`sse`: #UD unless CR0.EM = 0 and
 * CR4.OSFXSR = 1, #NM on CR0.TS; `mmx`; `x87`; `nw` for the non-waiting x87 control forms;
 * `xsave`), and `ua` for SSE rows whose 16-byte memory operand need not be aligned (the others
 * #GP on a misaligned one, SDM exception types 1, 2 and 4).
 * @module
 */
export const OPCODE_TABLE = `
# ---- one-byte map
00 /r ADD Eb,Gb L
01 /r ADD Ev,Gv L
02 /r ADD Gb,Eb
03 /r ADD Gv,Ev
04 ADD AL,Ib
05 ADD rAX,Iz
06 PUSH ES i64
07 POP ES i64 end
08 /r OR Eb,Gb L
09 /r OR Ev,Gv L
0A /r OR Gb,Eb
0B /r OR Gv,Ev
0C OR AL,Ib
0D OR rAX,Iz
0E PUSH CS i64
10 /r ADC Eb,Gb L
11 /r ADC Ev,Gv L
12 /r ADC Gb,Eb
13 /r ADC Gv,Ev
14 ADC AL,Ib
15 ADC rAX,Iz
16 PUSH SS i64
17 POP SS i64 end
18 /r SBB Eb,Gb L
19 /r SBB Ev,Gv L
1A /r SBB Gb,Eb
1B /r SBB Gv,Ev
1C SBB AL,Ib
1D SBB rAX,Iz
1E PUSH DS i64
1F POP DS i64 end
20 /r AND Eb,Gb L
21 /r AND Ev,Gv L
22 /r AND Gb,Eb
23 /r AND Gv,Ev
24 AND AL,Ib
25 AND rAX,Iz
27 DAA i64
28 /r SUB Eb,Gb L
29 /r SUB Ev,Gv L
2A /r SUB Gb,Eb
2B /r SUB Gv,Ev
2C SUB AL,Ib
2D SUB rAX,Iz
2F DAS i64
30 /r XOR Eb,Gb L
31 /r XOR Ev,Gv L
32 /r XOR Gb,Eb
33 /r XOR Gv,Ev
34 XOR AL,Ib
35 XOR rAX,Iz
37 AAA i64
38 /r CMP Eb,Gb
39 /r CMP Ev,Gv
3A /r CMP Gb,Eb
3B /r CMP Gv,Ev
3C CMP AL,Ib
3D CMP rAX,Iz
3F AAS i64
40+r INC Zv i64
48+r DEC Zv i64
50+r PUSH Zv d64
58+r POP Zv d64
60 PUSHA i64
61 POPA i64
62 /r BOUND Gv,M i64
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
80 /0 ADD Eb,Ib L
80 /1 OR Eb,Ib L
80 /2 ADC Eb,Ib L
80 /3 SBB Eb,Ib L
80 /4 AND Eb,Ib L
80 /5 SUB Eb,Ib L
80 /6 XOR Eb,Ib L
80 /7 CMP Eb,Ib
81 /0 ADD Ev,Iz L
81 /1 OR Ev,Iz L
81 /2 ADC Ev,Iz L
81 /3 SBB Ev,Iz L
81 /4 AND Ev,Iz L
81 /5 SUB Ev,Iz L
81 /6 XOR Ev,Iz L
81 /7 CMP Ev,Iz
82 /0 ADD Eb,Ib L i64
82 /1 OR Eb,Ib L i64
82 /2 ADC Eb,Ib L i64
82 /3 SBB Eb,Ib L i64
82 /4 AND Eb,Ib L i64
82 /5 SUB Eb,Ib L i64
82 /6 XOR Eb,Ib L i64
82 /7 CMP Eb,Ib i64
83 /0 ADD Ev,Ib L
83 /1 OR Ev,Ib L
83 /2 ADC Ev,Ib L
83 /3 SBB Ev,Ib L
83 /4 AND Ev,Ib L
83 /5 SUB Ev,Ib L
83 /6 XOR Ev,Ib L
83 /7 CMP Ev,Ib
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
F3 90 PAUSE
90+r XCHG Zv,rAX
98 CBW
99 CWD
9A CALLF Ap i64 end
9B FWAIT
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
C0 /0 ROL Eb,Ib
C0 /1 ROR Eb,Ib
C0 /2 RCL Eb,Ib
C0 /3 RCR Eb,Ib
C0 /4 SHL Eb,Ib
C0 /5 SHR Eb,Ib
C0 /6 SHL Eb,Ib
C0 /7 SAR Eb,Ib
C1 /0 ROL Ev,Ib
C1 /1 ROR Ev,Ib
C1 /2 RCL Ev,Ib
C1 /3 RCR Ev,Ib
C1 /4 SHL Ev,Ib
C1 /5 SHR Ev,Ib
C1 /6 SHL Ev,Ib
C1 /7 SAR Ev,Ib
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
D0 /0 ROL Eb,ONE
D0 /1 ROR Eb,ONE
D0 /2 RCL Eb,ONE
D0 /3 RCR Eb,ONE
D0 /4 SHL Eb,ONE
D0 /5 SHR Eb,ONE
D0 /6 SHL Eb,ONE
D0 /7 SAR Eb,ONE
D1 /0 ROL Ev,ONE
D1 /1 ROR Ev,ONE
D1 /2 RCL Ev,ONE
D1 /3 RCR Ev,ONE
D1 /4 SHL Ev,ONE
D1 /5 SHR Ev,ONE
D1 /6 SHL Ev,ONE
D1 /7 SAR Ev,ONE
D2 /0 ROL Eb,CL
D2 /1 ROR Eb,CL
D2 /2 RCL Eb,CL
D2 /3 RCR Eb,CL
D2 /4 SHL Eb,CL
D2 /5 SHR Eb,CL
D2 /6 SHL Eb,CL
D2 /7 SAR Eb,CL
D3 /0 ROL Ev,CL
D3 /1 ROR Ev,CL
D3 /2 RCL Ev,CL
D3 /3 RCR Ev,CL
D3 /4 SHL Ev,CL
D3 /5 SHR Ev,CL
D3 /6 SHL Ev,CL
D3 /7 SAR Ev,CL
D4 AAM Ib i64
D5 AAD Ib i64
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
FF /6 PUSH Ev d64
# ---- 0F map
0F 00 /0 SLDT Ew
0F 00 /1 STR Ew
0F 00 /2 LLDT Ew end
0F 00 /3 LTR Ew end
0F 00 /4 VERR Ew
0F 00 /5 VERW Ew
0F 01 /0 mem SGDT Ms
0F 01 /1 mem SIDT Ms
0F 01 /2 mem LGDT Ms end
0F 01 /3 mem LIDT Ms end
0F 01 /4 SMSW Ew
0F 01 /6 LMSW Ew end
0F 01 /7 mem INVLPG M end
0F 01 =C1 VMCALL end
0F 01 =CC TDCALL end
0F 01 =D0 XGETBV XSAVE
0F 01 =D1 XSETBV end XSAVE
0F 01 =D9 VMMCALL end
0F 01 =F8 SWAPGS o64 end
0F 01 =F9 RDTSCP RDTSCP
0F 02 /r LAR Gv,Ew
0F 03 /r LSL Gv,Ew
0F 05 SYSCALL end SYSCALL
0F 06 CLTS end
0F 07 SYSRET end SYSCALL
0F 08 INVD
0F 09 WBINVD
0F 0B UD2 end
0F 0D /r NOP Ev
0F 18 /r NOP Ev
0F 19 /r NOP Ev
0F 1A /r NOP Ev
0F 1B /r NOP Ev
0F 1C /r NOP Ev
0F 1D /r NOP Ev
0F 1E /r NOP Ev
0F 1F /r NOP Ev
0F 20 /r MOV Ry,Cy
0F 21 /r MOV Ry,Dy
0F 22 /r MOV Cy,Ry end
0F 23 /r MOV Dy,Ry end
0F 30 WRMSR end MSR
0F 31 RDTSC TSC
0F 32 RDMSR end MSR
0F 33 RDPMC
0F 34 SYSENTER end SEP
0F 35 SYSEXIT end SEP
0F 40+cc /r CMOVcc Gv,Ev CMOV
0F 80+cc Jcc Jz f64 end
0F 90+cc /r SETcc Eb
0F A0 PUSH FS d64
0F A1 POP FS d64 end
0F A2 CPUID end
0F A3 /r BT Ev,Gv
0F A4 /r SHLD Ev,Gv,Ib
0F A5 /r SHLD Ev,Gv,CL
0F A8 PUSH GS d64
0F A9 POP GS d64 end
0F AB /r BTS Ev,Gv L
0F AC /r SHRD Ev,Gv,Ib
0F AD /r SHRD Ev,Gv,CL
0F AF /r IMUL Gv,Ev
0F B0 /r CMPXCHG Eb,Gb L
0F B1 /r CMPXCHG Ev,Gv L
0F B2 /r mem LSS Gz,Mp end
0F B3 /r BTR Ev,Gv L
0F B4 /r mem LFS Gz,Mp end
0F B5 /r mem LGS Gz,Mp end
0F B6 /r MOVZX Gv,Eb
0F B7 /r MOVZX Gv,Ew
0F B9 /r UD1 Gv,Ev end
0F BA /4 BT Ev,Ib
0F BA /5 BTS Ev,Ib L
0F BA /6 BTR Ev,Ib L
0F BA /7 BTC Ev,Ib L
0F BB /r BTC Ev,Gv L
0F BC /r BSF Gv,Ev
0F BD /r BSR Gv,Ev
0F BE /r MOVSX Gv,Eb
0F BF /r MOVSX Gv,Ew
0F C0 /r XADD Eb,Gb L
0F C1 /r XADD Ev,Gv L
0F C7 /1 mem CMPXCHG8B Mq L CX8
0F C8+r BSWAP Zy
0F FF UD0 end
# ---- SSE, SSE2 (moves, logic, state), fences, POPCNT/LZCNT/TZCNT
NP 0F 10 /r MOVUPS Vx,Wx SSE ua
66 0F 10 /r MOVUPD Vx,Wx SSE2 ua
F3 0F 10 /r MOVSS Vx,Wd SSE
F2 0F 10 /r MOVSD Vx,Wq SSE2
NP 0F 11 /r MOVUPS Wx,Vx SSE ua
66 0F 11 /r MOVUPD Wx,Vx SSE2 ua
F3 0F 11 /r MOVSS Wd,Vx SSE
F2 0F 11 /r MOVSD Wq,Vx SSE2
NP 0F 12 /r mem MOVLPS Vx,Mq SSE
NP 0F 12 /r reg MOVHLPS Vx,Ux SSE
66 0F 12 /r mem MOVLPD Vx,Mq SSE2
NP 0F 13 /r mem MOVLPS Mq,Vx SSE
66 0F 13 /r mem MOVLPD Mq,Vx SSE2
NP 0F 16 /r mem MOVHPS Vx,Mq SSE
NP 0F 16 /r reg MOVLHPS Vx,Ux SSE
66 0F 16 /r mem MOVHPD Vx,Mq SSE2
NP 0F 17 /r mem MOVHPS Mq,Vx SSE
66 0F 17 /r mem MOVHPD Mq,Vx SSE2
0F 18 /0 mem PREFETCHNTA Mb SSE
0F 18 /1 mem PREFETCHT0 Mb SSE
0F 18 /2 mem PREFETCHT1 Mb SSE
0F 18 /3 mem PREFETCHT2 Mb SSE
NP 0F 28 /r MOVAPS Vx,Wx SSE
66 0F 28 /r MOVAPD Vx,Wx SSE2
NP 0F 29 /r MOVAPS Wx,Vx SSE
66 0F 29 /r MOVAPD Wx,Vx SSE2
NP 0F 2B /r mem MOVNTPS Mx,Vx SSE
66 0F 2B /r mem MOVNTPD Mx,Vx SSE2
NP 0F 54 /r ANDPS Vx,Wx SSE
66 0F 54 /r ANDPD Vx,Wx SSE2
NP 0F 56 /r ORPS Vx,Wx SSE
66 0F 56 /r ORPD Vx,Wx SSE2
NP 0F 57 /r XORPS Vx,Wx SSE
66 0F 57 /r XORPD Vx,Wx SSE2
66 0F 6E /r W0 MOVD Vx,Ed SSE2
66 0F 6E /r W1 MOVQ Vx,Eq SSE2
66 0F 6F /r MOVDQA Vx,Wx SSE2
F3 0F 6F /r MOVDQU Vx,Wx SSE2 ua
66 0F 7E /r W0 MOVD Ed,Vx SSE2
66 0F 7E /r W1 MOVQ Eq,Vx SSE2
F3 0F 7E /r MOVQ Vx,Wq SSE2
66 0F 7F /r MOVDQA Wx,Vx SSE2
F3 0F 7F /r MOVDQU Wx,Vx SSE2 ua
NP 0F AE /0 mem W0 FXSAVE m512byte FXSR nw
NP 0F AE /0 mem W1 FXSAVE64 m512byte FXSR nw
NP 0F AE /1 mem W0 FXRSTOR m512byte FXSR nw
NP 0F AE /1 mem W1 FXRSTOR64 m512byte FXSR nw
NP 0F AE /2 mem LDMXCSR Md SSE sse
NP 0F AE /3 mem STMXCSR Md SSE sse
NP 0F AE /5 reg LFENCE SSE2
NP 0F AE /6 reg MFENCE SSE2
NP 0F AE /7 reg SFENCE SSE
NP 0F AE /7 mem CLFLUSH Mb CLFSH
F3 0F B8 /r POPCNT Gv,Ev POPCNT
F3 0F BC /r TZCNT Gv,Ev BMI1
F3 0F BD /r LZCNT Gv,Ev ABM
66 0F D6 /r MOVQ Wq,Vx SSE2
66 0F E7 /r mem MOVNTDQ Mx,Vx SSE2
66 0F EF /r PXOR Vx,Wx SSE2
`;
