export { Kvm, type Abi } from './kvm.js';
export { Vm } from './vm.js';
export { Vcpu } from './vcpu.js';
export { decodeExit, type DebugExitArch, type TdxExitCall, type VcpuExit } from './exit.js';
export { TdxVm, TD_ATTRIBUTES, XFAM_COMPONENTS, tdAttributeNames, xfamNames, type TdxCapabilities, type TdxInitVm } from './tdx.js';
export type * from './types.js';
export { EventFd, type EventFdOptions } from './eventfd.js';
export { Device, type DeviceAttrId } from './device.js';
