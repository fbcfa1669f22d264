/**
 * `npm run demo`: what each backend is. Prints the API version and the capabilities of the virtual
 * x86-64 and arm64 hosts, and of the real /dev/kvm where this machine has one.
 */
import { isNativeAvailable, Kvm, KVM_CAP, nativeSys, nativeUnavailableReason, virtualSys, type Sys } from '../src/index.js';

function describeBackend(label: string, sys: Sys): void {
  const kvm = Kvm.open(sys);
  const caps = Object.entries(KVM_CAP)
    .map(([name, cap]) => [name, kvm.checkExtension(cap)] as const)
    .filter(([, v]) => v !== 0);
  console.log(`\n${label}: KVM_GET_API_VERSION = ${kvm.apiVersion()}, vCPU mmap size = ${kvm.vcpuMmapSize()}`);
  console.log(`  ${caps.length} capabilities: ${caps.map(([n, v]) => (v === 1 ? n : `${n}=${v}`)).join(' ')}`);
  kvm.close();
}

console.log('vkvm demo: the same KVM API on every backend');
describeBackend('virtual x86_64', virtualSys({ arch: 'x86_64' }));
describeBackend('virtual arm64', virtualSys({ arch: 'arm64' }));
if (isNativeAvailable()) describeBackend(`native /dev/kvm (${process.arch})`, nativeSys());
else console.log(`\nnative: unavailable (${nativeUnavailableReason()})`);
