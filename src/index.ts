/**
 * vkvm — a virtual /dev/kvm.
 *
 * - `Sys` (syscall edge): `virtualSys()` (in-process emulator) or `nativeSys()` (real /dev/kvm).
 * - uapi: every KVM struct, constant and ioctl number as data, doubling as byte-exact C fixtures.
 * @packageDocumentation
 */
export * from './uapi/index.js';
export * from './sys/index.js';
