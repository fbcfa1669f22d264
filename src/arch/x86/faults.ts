/**
 * How the x86 core leaves an instruction: sentinels thrown for a guest exception, an exit to
 * userspace, an errno exit and an emulation failure (preallocated: throwing allocates nothing),
 * and the exception vectors with the classes delivery needs.
 * @module
 */

/** Thrown for a guest exception; see `X86Cpu.excVector`. */
export const FAULT = { fault: true };
/** Thrown when the instruction needs userspace (MMIO read, IO): kvm_run is filled. */
export const EXIT = { exit: true };
/** Thrown when the vCPU must stop with an errno (EFAULT for unbacked memory...). */
export const ERRNO_EXIT = { errno: true };
/** Thrown for a condition KVM reports as KVM_EXIT_INTERNAL_ERROR/EMULATION. */
export const EMULATION_FAILURE = { emulation: true };

export const VEC = { DE: 0, DB: 1, NMI: 2, BP: 3, OF: 4, BR: 5, UD: 6, NM: 7, DF: 8, TS: 10, NP: 11, SS: 12, GP: 13, PF: 14, MF: 16, AC: 17, MC: 18, XM: 19 } as const;

/** Exceptions that push an error code. */
export const HAS_ERROR_CODE = (1 << 8) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 17) | (1 << 21);
/** Contributory exceptions for the double-fault rules. */
export const CONTRIBUTORY = (1 << 0) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13);
/** Vectors KVM's exception_type() calls faults (not #DB/#BP/#OF traps, not #DF/#MC aborts, not NMI). */
export const FAULT_CLASS = 0xffffffff & ~((1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 8) | (1 << 18));
