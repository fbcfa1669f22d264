/**
 * The general-purpose and system rows of the two-byte 0F map (SDM Vol. 2 App. A Table A-3); its
 * SSE/MMX rows are in simd.ts. The notation is opcodes.ts's.
 * @module
 */

/** The 0F map's non-SIMD rows. */
export const MAP_0F = `
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
0F C7 /1 mem W0 CMPXCHG8B Mq L CX8
0F C7 /1 mem W1 CMPXCHG16B Mx L CX16
0F C8+r BSWAP Zy
0F FF UD0 end`;
