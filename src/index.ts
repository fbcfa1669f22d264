/**
 * vkvm — a virtual /dev/kvm.
 *
 * - `Sys` (the syscall edge): `virtualSys()` (in-process emulator) or `nativeSys()` (real /dev/kvm).
 * - The typed layer: `Kvm.open(sys)`, `vm.createVcpu()`, `vcpu.run()` returning a `VcpuExit`.
 * - uapi: every KVM struct, constant and ioctl number as data, doubling as byte-exact C fixtures.
 * @packageDocumentation
 */
export * from './uapi/index.js';
export * from './sys/index.js';
export { virtualSys, type FaultRule, type TraceEvent, type VirtualSysOptions } from './sys/virtual.js';
export { attachVcpu, exportVcpu, vcpuHandleTransferList, type NativeVcpuHandle, type VcpuHandle, type VirtualVcpuHandle } from './sys/smp.js';
export * from './api/index.js';
export * from './introspection/index.js'; // KVMI seed extension (x86)
export { tdxModuleOf, type TdxDebugView } from './arch/x86/tdx/index.js'; // TDX module model (debug view)
