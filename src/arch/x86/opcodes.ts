/**
 * The x86 opcode map as data, in the notation of the Intel SDM opcode tables (Vol. 2, App. A):
 * one row per encoding — `<bytes> [/digit] <MNEMONIC> <operands> [flags]`.
 *
 * Bytes: opcode bytes in hex, optionally preceded by a mandatory prefix (66/F2/F3) for SSE forms;
 * `+r` adds the register in the low three bits. `/n` selects ModRM.reg; `/r` marks a ModRM;
 * `mem`/`reg` restrict ModRM.mod; `=XX` pins the whole ModRM byte (0F 01 C1 VMCALL...).
 *
 * Operands (Intel letters): E r/m, G reg, M memory only, R register only (ModRM.rm), S segment
 * register, C/D control/debug register, I immediate, J relative offset, O moffs, A far pointer,
 * Z register in the opcode's low bits, X/Y string source/destination, V/W xmm reg / xmm r/m,
 * fixed registers (AL, rAX, DX, CL, ONE). Sizes: b byte, w word, d dword, q qword, v 16/32/64 by
 * operand size, z 16/32 (imm32 sign-extended in 64-bit), y 32/64, p far pointer, x 128-bit.
 *
 * Flags: L lockable, i64 invalid in 64-bit mode, o64 only in 64-bit mode, d64 default 64-bit
 * operand size in long mode, f64 forced 64-bit (near branches), rep takes REP prefixes.
 * @module
 */
export const OPCODE_TABLE = `
00 /r ADD Eb,Gb L
01 /r ADD Ev,Gv L
02 /r ADD Gb,Eb
03 /r ADD Gv,Ev
04 ADD AL,Ib
05 ADD rAX,Iz
06 PUSH ES i64
07 POP ES i64
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
17 POP SS i64
18 /r SBB Eb,Gb L
19 /r SBB Ev,Gv L
1A /r SBB Gb,Eb
1B /r SBB Gv,Ev
1C SBB AL,Ib
1D SBB rAX,Iz
1E PUSH DS i64
1F POP DS i64
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
62 /r mem BOUND Gv,M i64
63 /r ARPL Ew,Gw i64
63 /r MOVSXD Gv,Ed o64
68 PUSH Iz d64
69 /r IMUL3 Gv,Ev,Iz
6A PUSH Ib d64
6B /r IMUL3 Gv,Ev,Ib
6C INS Yb,DX rep
6D INS Yz,DX rep
6E OUTS DX,Xb rep
6F OUTS DX,Xz rep
70+r JCC Jb f64
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
8E /r MOV Sw,Ew
8F /0 POP Ev d64
90 NOP
F3 90 PAUSE
90+r XCHG Zv,rAX
98 CBW
99 CWD
9A CALLF Ap i64
9B FWAIT
9C PUSHF d64
9D POPF d64
9E SAHF
9F LAHF
A0 MOV AL,Ob
A1 MOV rAX,Ov
A2 MOV Ob,AL
A3 MOV Ov,rAX
A4 MOVS Yb,Xb rep
A5 MOVS Yv,Xv rep
A6 CMPS Xb,Yb rep
A7 CMPS Xv,Yv rep
A8 TEST AL,Ib
A9 TEST rAX,Iz
AA STOS Yb,AL rep
AB STOS Yv,rAX rep
AC LODS AL,Xb rep
AD LODS rAX,Xv rep
AE SCAS AL,Yb rep
AF SCAS rAX,Yv rep
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
C2 RET Iw f64
C3 RET f64
C4 /r mem LES Gz,Mp i64
C5 /r mem LDS Gz,Mp i64
C6 /0 MOV Eb,Ib
C7 /0 MOV Ev,Iz
C8 ENTER Iw,Ib d64
C9 LEAVE d64
CA RETF Iw
CB RETF
CC INT3
CD INT Ib
CE INTO i64
CF IRET
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
D6 SALC i64
D7 XLAT
E0 LOOPNE Jb f64
E1 LOOPE Jb f64
E2 LOOP Jb f64
E3 JRCXZ Jb f64
E4 IN AL,Ib
E5 IN eAX,Ib
E6 OUT Ib,AL
E7 OUT Ib,eAX
E8 CALL Jz f64
E9 JMP Jz f64
EA JMPF Ap i64
EB JMP Jb f64
EC IN AL,DX
ED IN eAX,DX
EE OUT DX,AL
EF OUT DX,eAX
F1 INT1
F4 HLT
F5 CMC
F6 /0 TEST Eb,Ib
F6 /1 TEST Eb,Ib
F6 /2 NOT Eb L
F6 /3 NEG Eb L
F6 /4 MUL Eb
F6 /5 IMUL1 Eb
F6 /6 DIV Eb
F6 /7 IDIV Eb
F7 /0 TEST Ev,Iz
F7 /1 TEST Ev,Iz
F7 /2 NOT Ev L
F7 /3 NEG Ev L
F7 /4 MUL Ev
F7 /5 IMUL1 Ev
F7 /6 DIV Ev
F7 /7 IDIV Ev
F8 CLC
F9 STC
FA CLI
FB STI
FC CLD
FD STD
FE /0 INC Eb L
FE /1 DEC Eb L
FF /0 INC Ev L
FF /1 DEC Ev L
FF /2 CALL Ev f64
FF /3 mem CALLF Mp
FF /4 JMP Ev f64
FF /5 mem JMPF Mp
FF /6 PUSH Ev d64
0F 00 /0 SLDT Ew
0F 00 /1 STR Ew
0F 00 /2 LLDT Ew
0F 00 /3 LTR Ew
0F 00 /4 VERR Ew
0F 00 /5 VERW Ew
0F 01 /0 mem SGDT Ms
0F 01 /1 mem SIDT Ms
0F 01 /2 mem LGDT Ms
0F 01 /3 mem LIDT Ms
0F 01 /4 SMSW Ew
0F 01 /6 LMSW Ew
0F 01 /7 mem INVLPG M
0F 01 =C1 VMCALL
0F 01 =C8 MONITOR
0F 01 =C9 MWAIT
0F 01 =CA CLAC
0F 01 =CB STAC
0F 01 =CC TDCALL
0F 01 =D0 XGETBV
0F 01 =D1 XSETBV
0F 01 =D9 VMMCALL
0F 01 =F8 SWAPGS o64
0F 01 =F9 RDTSCP
0F 02 /r LAR Gv,Ew
0F 03 /r LSL Gv,Ew
0F 05 SYSCALL
0F 06 CLTS
0F 07 SYSRET
0F 08 INVD
0F 09 WBINVD
0F 0B UD2
0F 0D /r NOP Ev
0F 18 /r NOP Ev
0F 19 /r NOP Ev
0F 1A /r NOP Ev
0F 1B /r NOP Ev
0F 1C /r NOP Ev
0F 1D /r NOP Ev
0F 1E /r NOP Ev
0F 1F /r NOP Ev
0F 10 /r MOVUPS Vx,Wx
66 0F 10 /r MOVUPS Vx,Wx
F3 0F 10 /r MOVSS Vx,Wd
F2 0F 10 /r MOVSD Vx,Wq
0F 11 /r MOVUPS Wx,Vx
66 0F 11 /r MOVUPS Wx,Vx
F3 0F 11 /r MOVSS Wd,Vx
F2 0F 11 /r MOVSD Wq,Vx
0F 12 /r mem MOVLPS Vx,Mq
66 0F 12 /r mem MOVLPS Vx,Mq
0F 13 /r mem MOVLPS Mq,Vx
66 0F 13 /r mem MOVLPS Mq,Vx
0F 16 /r mem MOVHPS Vx,Mq
66 0F 16 /r mem MOVHPS Vx,Mq
0F 17 /r mem MOVHPS Mq,Vx
66 0F 17 /r mem MOVHPS Mq,Vx
0F 20 /r MOV Ry,Cy
0F 21 /r MOV Ry,Dy
0F 22 /r MOV Cy,Ry
0F 23 /r MOV Dy,Ry
0F 28 /r MOVAPS Vx,Wx
66 0F 28 /r MOVAPS Vx,Wx
0F 29 /r MOVAPS Wx,Vx
66 0F 29 /r MOVAPS Wx,Vx
0F 2B /r mem MOVAPS Mx,Vx
66 0F 2B /r mem MOVAPS Mx,Vx
0F 30 WRMSR
0F 31 RDTSC
0F 32 RDMSR
0F 33 RDPMC
0F 34 SYSENTER
0F 35 SYSEXIT
0F 40+r /r CMOVCC Gv,Ev
0F 54 /r ANDPS Vx,Wx
66 0F 54 /r ANDPS Vx,Wx
0F 56 /r ORPS Vx,Wx
66 0F 56 /r ORPS Vx,Wx
0F 57 /r XORPS Vx,Wx
66 0F 57 /r XORPS Vx,Wx
66 0F 6E /r MOVD Vx,Ey
66 0F 6F /r MOVAPS Vx,Wx
F3 0F 6F /r MOVUPS Vx,Wx
66 0F 7E /r MOVD Ey,Vx
F3 0F 7E /r MOVQ Vx,Wq
66 0F 7F /r MOVAPS Wx,Vx
F3 0F 7F /r MOVUPS Wx,Vx
0F 80+r JCC Jz f64
0F 90+r /r SETCC Eb
0F A0 PUSH FS d64
0F A1 POP FS d64
0F A2 CPUID
0F A3 /r BT Ev,Gv
0F A4 /r SHLD Ev,Gv,Ib
0F A5 /r SHLD Ev,Gv,CL
0F A8 PUSH GS d64
0F A9 POP GS d64
0F AB /r BTS Ev,Gv L
0F AC /r SHRD Ev,Gv,Ib
0F AD /r SHRD Ev,Gv,CL
0F AE /0 mem FXSAVE M
0F AE /1 mem FXRSTOR M
0F AE /2 mem LDMXCSR Md
0F AE /3 mem STMXCSR Md
0F AE /5 reg LFENCE
0F AE /6 reg MFENCE
0F AE /7 reg SFENCE
0F AE /7 mem CLFLUSH M
0F AF /r IMUL2 Gv,Ev
0F B0 /r CMPXCHG Eb,Gb L
0F B1 /r CMPXCHG Ev,Gv L
0F B2 /r mem LSS Gz,Mp
0F B3 /r BTR Ev,Gv L
0F B4 /r mem LFS Gz,Mp
0F B5 /r mem LGS Gz,Mp
0F B6 /r MOVZX Gv,Eb
0F B7 /r MOVZX Gv,Ew
F3 0F B8 /r POPCNT Gv,Ev
0F B9 /r UD1 Gv,Ev
0F BA /4 BT Ev,Ib
0F BA /5 BTS Ev,Ib L
0F BA /6 BTR Ev,Ib L
0F BA /7 BTC Ev,Ib L
0F BB /r BTC Ev,Gv L
0F BC /r BSF Gv,Ev
F3 0F BC /r TZCNT Gv,Ev
0F BD /r BSR Gv,Ev
F3 0F BD /r LZCNT Gv,Ev
0F BE /r MOVSX Gv,Eb
0F BF /r MOVSX Gv,Ew
0F C0 /r XADD Eb,Gb L
0F C1 /r XADD Ev,Gv L
0F C7 /1 mem CMPXCHG8B Mq L
0F C8+r BSWAP Zy
66 0F D6 /r MOVQ Wq,Vx
66 0F E7 /r mem MOVAPS Mx,Vx
66 0F EF /r XORPS Vx,Wx
0F FF UD0
`;
