/**
 * The mini-VMM: a small, real VMM written only against vkvm's typed API. See vmm.ts.
 * @module
 */
export { MiniVmm, runGuest, formatSummary, handleExit, makeSys, type Backend, type BreakpointHit, type ExitContext, type ExitOutcome, type ExitStop, type MiniVmmOptions, type RunEnd, type RunResult, type DeviceStats } from './vmm.js';
export { ARM64_BOARD, X86_BOARD, MAX_BREAKPOINTS, arm64Board, x86Board, arm64RegNames, x86RegNames, createGicV3, spiIrq, type Board, type X86Mode, type InitialRegs } from './boards.js';
export { ImageError, loadImage, parseElf, isElf, type LoadedImage } from './image.js';
export { Uart16550, Pl011, PL011_INT, ExitDevice, ResultPort, Bus, DebugCon, type Device } from './devices.js';
export { vmIrqLine, irqfdLine, type IrqLine } from './irq.js';
export { VirtioMmio, VirtioEventfds, VIRTIO_MMIO_SIZE } from './virtio/mmio.js';
export { VirtioRng, type EntropySource } from './virtio/rng.js';
