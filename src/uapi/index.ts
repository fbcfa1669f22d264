/**
 * The uapi layer: every KVM struct, constant and ioctl number, declared once as data.
 *
 * Structs double as byte-exact C fixtures: `x86_64.structs.kvm_regs.encode({ rip: 0x1000n })`
 * gives the bytes a C test would build; `.decode()` and `.view()` read them back.
 * @module
 */
import * as arm64 from './arm64.js';
import type { CheckSet } from './cgen.js';
import { deviceConstGroups, genericConstGroups } from './constants.js';
import type { IoctlDef } from './ioctls.js';
import * as kvmi from './kvmi.js';
import * as x86Base from './x86.js';

// KVMI (seed extension, x86 only): its VM ioctls join the x86-64 table; its structs and
// constants are checked with the x86-64 declarations (see kvmi.ts, include/vkvm/kvmi.h).
const x86_64: Omit<typeof x86Base, 'ioctls'> & { readonly ioctls: typeof x86Base.ioctls & typeof kvmi.ioctls } = { ...x86Base, ioctls: { ...x86Base.ioctls, ...kvmi.ioctls } };

export * from './constants.js';
export * from './ioctl.js';
export * from './layout.js';
export { generateChecks, type CheckMode, type CheckProgram, type CheckSet } from './cgen.js';
export type { CountLimit, FdKind, IoctlDef } from './ioctls.js';
export { kvmRun } from './kvm.js';
export { arm64, kvmi, x86_64 };

/** The architectures KVM runs on that vkvm models. */
export type Arch = 'x86_64' | 'arm64';

/** The ABI description of one arch: its structs, ioctls and constant groups. */
export const abi = { x86_64, arm64 } as const;

/** The C name of every ioctl some arch declares (a misspelt name does not compile). */
export type IoctlName = keyof (typeof x86_64)['ioctls'] | keyof (typeof arm64)['ioctls'];
/** The ioctls every arch declares. */
export type CommonIoctlName = keyof (typeof x86_64)['ioctls'] & keyof (typeof arm64)['ioctls'];
/**
 * Request numbers by name, for one arch: the common ioctls always, the others only where that arch
 * declares them (undefined otherwise, so a `case` on them never matches there).
 */
export type IoctlNumbers = { readonly [K in CommonIoctlName]: number } & { readonly [K in Exclude<IoctlName, CommonIoctlName>]?: number };

/** The arch this process runs on, when it is one KVM supports here. */
export function hostArch(): Arch | undefined {
  return process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'arm64' : undefined;
}

/** Finds an ioctl definition by request number (used by trace output and the native arg check). */
export function ioctlByRequest(arch: Arch, request: number): IoctlDef | undefined {
  return byRequest[arch].get(request >>> 0);
}

const byRequest: Record<Arch, Map<number, IoctlDef>> = {
  x86_64: new Map(Object.values(x86_64.ioctls).map((d) => [d.request, d])),
  arm64: new Map(Object.values(arm64.ioctls).map((d) => [d.request, d])),
};

/** The declarations each arch's generated C check covers. */
export const checkSets: Record<Arch, CheckSet> = {
  x86_64: {
    structs: { ...x86_64.structs, ...kvmi.structs },
    constGroups: [...genericConstGroups, ...x86_64.constGroups, ...kvmi.constGroups],
    ioctls: x86_64.ioctls,
    headers: ['errno.h', 'linux/kvm_para.h', 'sys/eventfd.h', 'linux/falloc.h'],
  },
  arm64: { structs: arm64.structs, constGroups: [...deviceConstGroups, ...arm64.constGroups], ioctls: arm64.ioctls, headers: ['linux/psci.h', 'sys/eventfd.h'] },
};
