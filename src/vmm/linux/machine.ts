/**
 * What the Linux run loop needs from an arch's machine (its board, vCPUs, interrupt delivery and
 * timers), and the options both arches take.
 * @module
 */
import type { Arch, Kvm, Sys, Vcpu, VcpuHandle, Vm } from '../../index.js';
import type { Board } from '../boards.js';
import type { GuestMemory } from '../memory.js';
import type { BlockStore } from '../virtio/blk.js';

/** Where interrupts come from: KVM's in-kernel irqchip, the VMM's own (x86 i8259/i8254 + KVM_INTERRUPT), or nothing. */
export type IrqchipMode = 'kernel' | 'userspace' | 'none';

export interface LinuxVmOptions {
  readonly arch: Arch;
  /** The backend to build (default 'virtual'); ignored when `sys` is given. */
  readonly backend?: 'virtual' | 'native';
  readonly sys?: Sys;
  readonly devicePath?: string;
  /** x86: a bzImage; arm64: an Image (or Image.gz / EFI zboot with gzip). */
  readonly kernel: Uint8Array;
  readonly initrd?: Uint8Array;
  /** The kernel command line (default: the board's console and reboot settings); device parameters are appended. */
  readonly cmdline?: string;
  /** Extra parameters appended to the (default or given) command line. */
  readonly extraCmdline?: string;
  /** A virtio-blk disk: an image file path or a store. */
  readonly disk?: string | BlockStore;
  readonly diskReadOnly?: boolean;
  /** Guest RAM in bytes (default 256 MiB). */
  readonly memSize?: number;
  /** vCPUs (default 1). */
  readonly cpus?: number;
  /** Interrupt controller: 'auto' (default) takes the in-kernel one when KVM_CAP_IRQCHIP says so. */
  readonly irqchip?: 'auto' | IrqchipMode;
  /** Add a virtio console (hvc0) next to the UART (default true). */
  readonly virtioConsole?: boolean;
  /** Console output, byte by byte (UART and virtio console). */
  readonly console?: (byte: number) => void;
  /** Bytes typed on the console (fed to the UART as it has room). */
  readonly consoleInput?: Uint8Array;
  /** Stop after this many exits (default unlimited). */
  readonly maxExits?: number;
  /** Stop after this many milliseconds of wall-clock time (default unlimited). */
  readonly timeLimitMs?: number;
  /** Keep the exit sequence (default false: a boot makes millions). */
  readonly recordExits?: boolean;
  readonly trace?: (line: string) => void;
  /** virtualSys options when the VMM builds the backend. */
  readonly jit?: boolean;
  /**
   * The guest's time (virtual backend): 'host' (default) the host's clock; 'deterministic' time
   * that advances with retired instructions and jumps over idle periods, so a loaded host does not
   * show the guest RCU stalls and a boot is reproducible.
   */
  readonly clock?: 'host' | 'deterministic';
  /** Instructions per KVM_RUN before the virtual backend returns EINTR (the VMM's timer tick). */
  readonly runBudget?: number;
}

/** What an arch's setup hands the run loop. */
export interface LinuxMachine {
  readonly board: Board;
  readonly vcpus: readonly Vcpu[];
  readonly irqchip: IrqchipMode;
  /** The command line the kernel got. */
  readonly cmdline: string;
  /** Called before each KVM_RUN of vCPU `i` (userspace irqchip: inject or ask for a window). */
  beforeRun(i: number): void;
  /** Whether halted vCPU `i` has something to wake it now. */
  wakeable(i: number): boolean;
  /** Advances the VMM's timers and device input (raising interrupts). */
  tick(): void;
  /** Nanoseconds until the next timer event the VMM owns (Infinity if none). */
  nsUntilEvent(): number;
  /** Device statistics for the summary. */
  describe(): string[];
  close(): void;
}

/** What the arch setups get from the generic part. */
export interface MachineContext {
  readonly opts: LinuxVmOptions;
  readonly sys: Sys;
  readonly kvm: Kvm;
  readonly vm: Vm;
  readonly memSize: number;
  readonly cpus: number;
  readonly irqchip: IrqchipMode;
  /** Guest RAM regions (allocated and registered by the arch setup through `addRam`). */
  addRam(gpa: number, size: number): void;
  readonly mem: GuestMemory;
  /** The console sink (collects output and forwards it). */
  readonly sink: (byte: number) => void;
}

/** Appends `extra` to `base` with one space. */
export const joinCmdline = (...parts: (string | undefined)[]) => parts.filter((p) => p && p.trim()).map((p) => p!.trim()).join(' ');

// The vCPU threads of `LinuxVm.runAsync` (vcpu-worker.ts) and the owner.

/** What the owner gives the thread. */
export interface VcpuWorkerData {
  readonly handle: VcpuHandle;
  readonly arch: Arch;
  /** Int32 words shared with the owner: see CTRL. */
  readonly ctrl: SharedArrayBuffer;
}

/** The words of `ctrl`. */
export const CTRL = {
  /** 1 while an exit waits for the owner; the owner stores 0 and notifies when it has completed it. */
  PENDING: 0,
  /** 1: stop running and hand the vCPU back. */
  STOP: 1,
} as const;

/** What the thread tells the owner. */
export type VcpuWorkerMessage =
  | { readonly kind: 'exit'; readonly pc?: string }
  | { readonly kind: 'error'; readonly message: string }
  | { readonly kind: 'done'; readonly runs: number; readonly intr: number };
