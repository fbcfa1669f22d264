/**
 * KVM introspection (KVMI), the seed extension of the never-merged "VM introspection" series (v12):
 * an introspection tool watches and steers an x86 guest over a socket. See include/vkvm/kvmi.h
 * for the ABI and vcpu.ts for how a vCPU waits for the tool.
 *
 * A VMM gives the VM a socket with KVM_INTROSPECTION_HOOK. The socket is an fd of the process:
 * `kvmiSocketFd(sys, ...)` puts one into the virtual process (a host socket fd, or the kernel end
 * of `kvmiInProcessPair()`); on `nativeSys()` the host fd is passed through unchanged.
 * @module
 */
import { kernelOf } from '../sys/kernel-of.js';
import type { Sys } from '../sys/sys.js';
import { KvmiSocket } from './kvmi.js';
import { FdStream, type FdStreamOptions } from './socket.js';
import type { KvmiStream } from './stream.js';
import { ioctls as kvmiIoctls, kvm_introspection_feature, kvm_introspection_hook } from '../uapi/kvmi.js';

export { KvmiClient, KvmiError, decodeEvent, encodePageAccess, type KvmiEvent, type KvmiEventData } from './client.js';
export { connectUnix, FdStream, hostSocketpair, isKvmiSocketAvailable, type FdStreamOptions } from './socket.js';
export { kvmiInProcessPair, type KvmiStream, type KvmiTransport } from './stream.js';

/**
 * An fd of the process for KVM_INTROSPECTION_HOOK: the kernel end of an in-process pair, or a
 * connected host stream socket (its OS fd, owned from then on). On the native backend the host
 * fd itself is returned (the real kernel resolves it).
 */
export function kvmiSocketFd(sys: Sys, socket: KvmiStream | number, opts?: FdStreamOptions): number {
  const kernel = kernelOf(sys);
  if (!kernel) {
    if (typeof socket === 'number') return socket;
    throw new Error('an in-process KVMI stream only exists in virtualSys()');
  }
  const stream = typeof socket === 'number' ? new FdStream(socket, opts) : socket;
  return kernel.install({ kind: 'socket', socket: new KvmiSocket(stream) });
}

// ---- the VMM's side: the VM ioctls (either backend; the real kernel answers ENOTTY) ----------

const ioctl = (name: keyof typeof kvmiIoctls) => kvmiIoctls[name]!.request;

/** KVM_INTROSPECTION_HOOK: gives the VM the socket `socketFd` (see `kvmiSocketFd`). */
export function introspectionHook(sys: Sys, vmFd: number, socketFd: number, uuid: Uint8Array = new Uint8Array(16)): void {
  sys.ioctl(vmFd, ioctl('KVM_INTROSPECTION_HOOK'), kvm_introspection_hook.encode({ fd: socketFd, uuid }));
}

/** KVM_INTROSPECTION_UNHOOK: the tool loses the VM; every restriction and event goes. */
export function introspectionUnhook(sys: Sys, vmFd: number): void {
  sys.ioctl(vmFd, ioctl('KVM_INTROSPECTION_UNHOOK'));
}

/** KVM_INTROSPECTION_COMMAND: allows or disallows a command id (-1: all). */
export function introspectionCommand(sys: Sys, vmFd: number, id: number, allow: boolean): void {
  sys.ioctl(vmFd, ioctl('KVM_INTROSPECTION_COMMAND'), kvm_introspection_feature.encode({ id, allow: allow ? 1 : 0 }));
}

/** KVM_INTROSPECTION_EVENT: allows or disallows an event id (-1: all). */
export function introspectionEvent(sys: Sys, vmFd: number, id: number, allow: boolean): void {
  sys.ioctl(vmFd, ioctl('KVM_INTROSPECTION_EVENT'), kvm_introspection_feature.encode({ id, allow: allow ? 1 : 0 }));
}

/** KVM_INTROSPECTION_PREUNHOOK: sends KVMI_VM_EVENT_UNHOOK so the tool can clean up first. */
export function introspectionPreunhook(sys: Sys, vmFd: number): void {
  sys.ioctl(vmFd, ioctl('KVM_INTROSPECTION_PREUNHOOK'));
}
