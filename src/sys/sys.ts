import type { Arch } from '../uapi/index.js';

/** Anonymous memory handed to a VMM: its host virtual address and a view of the same bytes. */
export interface HostMemory {
  /** The hva to put in `userspace_addr` and other pointer fields. */
  readonly hva: bigint;
  /**
   * The same memory as bytes (zero copy): writes here are seen by the guest and vice versa. Like a
   * pointer from mmap, it is a view into a larger space: the virtual backend carves mappings of up
   * to 512 MiB out of one process-wide shared `WebAssembly.Memory` (so wasm-translated guest code
   * reaches them directly), so `bytes.byteOffset` is usually not 0 — build other views with it
   * (`new DataView(bytes.buffer, bytes.byteOffset, bytes.length)`). After `munmap`, the same bytes
   * may be handed to a later mapping, as a stale pointer would alias on Linux.
   */
  readonly bytes: Uint8Array;
}

/** An ioctl argument: an integer (`unsigned long`), or the bytes of the struct a pointer would address. */
export type IoctlArg = number | bigint | Uint8Array;

/**
 * The syscall edge a VMM uses: what it would do with libc on Linux. Two implementations:
 * `virtualSys()` (the in-process emulator) and `nativeSys()` (the real /dev/kvm through an FFI).
 * Failures throw {@link KvmError} with the kernel's errno.
 */
export interface Sys {
  /** Which implementation this is. */
  readonly backend: 'virtual' | 'native';
  /** The architecture of the (possibly emulated) host. */
  readonly arch: Arch;
  /** open(2). Returns an fd. */
  open(path: string, flags?: number): number;
  /**
   * ioctl(2) with the Linux request number. Struct arguments are passed as their C bytes; in/out
   * structs are written back in place. Returns what the kernel returns (an fd, a value, 0).
   */
  ioctl(fd: number, request: number, arg?: IoctlArg): number;
  /**
   * mmap(2) of an fd (a vCPU fd gives its kvm_run region). Any page range of a vCPU fd maps, as in
   * Linux. Virtual: the returned bytes stop at the pages the kernel backs (KVM_GET_VCPU_MMAP_SIZE of
   * them); native: they cover `length`, and touching the pages past those raises SIGBUS.
   */
  mmap(fd: number, length: number, offset?: number): Uint8Array;
  /** munmap(2) of a region returned by `mmap` or `alloc`. */
  munmap(region: Uint8Array): void;
  /** Anonymous, zeroed, page-aligned memory for guest RAM and pointer arguments. */
  alloc(length: number): HostMemory;
  /** close(2). */
  close(fd: number): void;

  // ---- eventfds: what a VMM needs for KVM_IRQFD / KVM_IOEVENTFD, the same on both backends ----
  /**
   * eventfd(2): a new eventfd with counter `initval` (default 0) and `flags` (EFD_NONBLOCK,
   * EFD_SEMAPHORE, EFD_CLOEXEC; default 0). Returns its fd. Virtual: a counter in shared memory;
   * native: the real eventfd.
   */
  eventfd(initval?: number, flags?: number): number;
  /**
   * read(2) into `buf`; returns the bytes read. An eventfd needs 8 bytes (EINVAL otherwise) and
   * gives its counter (1 with EFD_SEMAPHORE); at 0 it fails with EAGAIN if non-blocking, else the
   * calling thread blocks until a signal (use `waitReadable` on a thread that must not block).
   */
  read(fd: number, buf: Uint8Array): number;
  /** write(2) of `buf`; returns the bytes written. An eventfd takes exactly 8 bytes, added to its counter. */
  write(fd: number, buf: Uint8Array): number;
  /**
   * fallocate(2) of `len` bytes at `offset` with `mode` (FALLOC_FL_*): on a guest_memfd,
   * FALLOC_FL_KEEP_SIZE allocates and `| FALLOC_FL_PUNCH_HOLE` discards pages (kvm_gmem_fallocate).
   */
  fallocate(fd: number, mode: number, offset: number | bigint, len: number | bigint): void;
  /**
   * Resolves true once `fd` is readable (poll(2) POLLIN), false after `timeoutMs` (default: no
   * limit). Never blocks the thread or its event loop. Virtual: an `Atomics.waitAsync` on the
   * eventfd's shared counter, woken by a signal from any thread (including an ioeventfd hit of a
   * vCPU on a worker); it does not by itself keep the process alive. Native: poll(2) on a libuv
   * pool thread (one per thread of this process, shared by all its waits), which does.
   */
  waitReadable(fd: number, timeoutMs?: number): Promise<boolean>;
}

/** O_RDWR | O_CLOEXEC, the flags VMMs open /dev/kvm with. */
export const O_RDWR = 2;
export const O_CLOEXEC = 0o2000000;

export const PAGE_SIZE = 4096;
