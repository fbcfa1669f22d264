/**
 * Ioctl names are literal types: a misspelt name does not compile (checked by `npm run typecheck`,
 * which covers the tests: each `@ts-expect-error` below fails the typecheck if the line compiles),
 * and the tables keep every name a switch or a lookup may use.
 */
import { describe, expect, it } from 'vitest';
import { abi, Kvm, virtualSys, type IoctlName, type IoctlNumbers } from '../../src/index.js';
import { Kernel } from '../../src/kernel/kernel.js';
import { nullArch } from '../../src/kernel/null-arch.js';

describe('ioctl names are typed', () => {
  it('a misspelt name is a compile error in the kernel tables and the typed layer', () => {
    const nr: IoctlNumbers = new Kernel(nullArch).nr;
    // @ts-expect-error misspelt: not a declared ioctl
    void nr.KVM_IRQ_LNE;
    // @ts-expect-error misspelt: not a declared ioctl
    const bad: IoctlName = 'KVM_SET_GSI_ROUTNG';
    void bad;
    const kvm = Kvm.open(virtualSys());
    // @ts-expect-error misspelt: not a declared ioctl
    expect(() => kvm.req('KVM_CREATE_IRQCHP')).toThrow();
    // Names only one arch declares are optional in a kernel's table: undefined on the other arch.
    const x86Only: number | undefined = nr.KVM_GET_CLOCK;
    expect(x86Only).toBe(abi.x86_64.ioctls.KVM_GET_CLOCK.request);
    expect(new Kernel(nullArch).nr.KVM_ARM_VCPU_INIT).toBeUndefined();
    expect(nr.KVM_SET_GSI_ROUTING).toBe(0x4008ae6a);
    expect(nr.KVM_IRQ_LINE_STATUS).toBe(0xc008ae67);
    expect(nr.KVM_CREATE_DEVICE).toBe(0xc00caee0);
  });
});
