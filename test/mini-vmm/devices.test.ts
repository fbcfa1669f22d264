/**
 * The mini-VMM's interrupt-driven devices (`irqchip: 'kernel'`, `virtioRng`), driven by the guests
 * test/guests/x86/vmm/devices.asm and test/guests/arm64/vmm/devices.S (see their headers):
 *   - x86: the 16550 on GSI 4 through the in-kernel IOAPIC (KVM_IRQ_LINE), output drained by the
 *     THR-empty interrupt, input taken by the received-data interrupt; arm64: the PL011 on SPI 1
 *     through the vGICv3, output by the TX interrupt, input by the RX/receive-timeout interrupts;
 *   - virtio-rng on virtio-mmio (modern): QueueNotify is an ioeventfd (the tests check it never
 *     exits to the VMM), the used-buffer interrupt an irqfd; every byte the guest got is compared
 *     with what the VMM's entropy source produced; the guest counts its interrupts;
 *   - with the kernel in the upper half and a CPL3 / EL0 phase whose interrupts return there.
 * Each guest runs under the interpreter and the JIT. The VMM code is written against the typed
 * API only, so the same run is repeated on /dev/kvm where there is one -- not on this project's
 * machines, which have none: those cases are skipped (they name why).
 */
import { describe, expect, it } from 'vitest';
import { isNativeAvailable, nativeSys, virtualSys, type Sys } from '../../src/index.js';
import { Pl011, PL011_INT, runGuest, Uart16550, type RunResult } from '../../src/vmm/index.js';
import { EXIT, main } from '../../src/cli/main.js';
import { processIo } from '../../src/cli/io.js';
import { nativeX86 } from '../helpers/backends.js';
import { X86_ENGINES } from '../helpers/engines.js';
import { image, ROOT } from './guests.js';
import { resolve } from 'node:path';

const X86_GUEST = 'test/guests/x86/vmm/devices.bin';
const ARM64_GUEST = 'test/guests/arm64/vmm/devices.bin';
const INPUT = 'hello\nworld\n';
const nativeArm64 = process.arch === 'arm64' && isNativeAvailable();

/** A deterministic entropy source that remembers every byte it gave. */
function recordingSource(seed: number) {
  const given: number[] = [];
  let x = seed >>> 0;
  return {
    given,
    fill(b: Uint8Array) {
      for (let i = 0; i < b.length; i++) {
        x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
        b[i] = x >>> 24;
        given.push(b[i]!);
      }
    },
  };
}

/** The result-device words the guest reports for its rng requests: id, used length, the bytes as LE words. */
function requestWords(given: readonly number[], n: number): number[] {
  const out: number[] = [];
  let o = 0;
  for (let i = 0; i < n; i++) {
    const len = 4 * (i + 1);
    out.push(i, len);
    for (let w = 0; w < len; w += 4) out.push((given[o + w]! | (given[o + w + 1]! << 8) | (given[o + w + 2]! << 16) | (given[o + w + 3]! << 24)) >>> 0);
    o += len;
  }
  return out;
}

/** magic "virt", version 2 (modern), device 4 (entropy), features 63:32 = VERSION_1, FEATURES_OK kept, QueueNumMax 64. */
const HEADER = [0x74726976, 2, 4, 1, 0xb, 64];
const text = (r: RunResult) => Buffer.from(r.console).toString('latin1');

function runX86(sys: Sys, seed: number) {
  const src = recordingSource(seed);
  const r = runGuest({ arch: 'x86_64', sys, image: image(X86_GUEST), x86Mode: 'long', irqchip: 'kernel', virtioRng: true, entropy: src.fill, consoleInput: Buffer.from(INPUT), timeLimitMs: 60_000 });
  return { r, src };
}

function runArm64(sys: Sys, seed: number) {
  const src = recordingSource(seed);
  const r = runGuest({ arch: 'arm64', sys, image: image(ARM64_GUEST), irqchip: 'kernel', virtioRng: true, entropy: src.fill, consoleInput: Buffer.from(INPUT), timeLimitMs: 60_000 });
  return { r, src };
}

/** What both arches' VMM side must show: `n` requests (4, 8, ... bytes), all notified by ioeventfd, none by an exit. */
function expectRngOverEventfds(r: RunResult, src: { given: number[] }, n: number) {
  const bytes = 2 * n * (n + 1);
  expect(r.devices?.rng).toEqual({ requests: n, bytes, eventfdKicks: n, mmioKicks: 0, irqs: n });
  expect(src.given.length).toBe(bytes);
  // QueueNotify (window + 0x50) never reached the VMM as an MMIO exit.
  expect([...r.counts.keys()].filter((k) => /mmio write 0x(d00000|a0000)50 /.test(k))).toEqual([]);
  // ...while the other registers did (the window is the VMM's, not KVM's).
  expect([...r.counts.keys()].some((k) => /mmio read 0x(d00000|a0000)60 virtio-rng/.test(k))).toBe(true);
  expect(r.devices?.inputLeft).toBe(0);
}

const X86_TEXT = 'vmm devices: x86-64, kernel half\nrx: hello\nvirtio-rng ready\n' + 'rng request\n'.repeat(4) + 'rx: world\ninterrupts taken from CPL3: uart 1, rng 1\ndone\n';
const ARM64_TEXT =
  'vmm devices: arm64\ninterrupt-driven console\nrx: hello\nvirtio-rng ready\n' + 'rng request\n'.repeat(5) + 'kernel half, MMU on\nrx: world\ninterrupts taken from EL0: uart 1, rng 1\ndone\n';

function checkX86(r: RunResult, src: { given: number[] }) {
  expect(r.detail).toBe('the guest wrote 0 to the exit device');
  expect(text(r)).toBe(X86_TEXT);
  expectRngOverEventfds(r, src, 5);
  const res = r.results;
  expect(res.slice(0, 6)).toEqual(HEADER);
  expect(res.slice(6, -8)).toEqual(requestWords(src.given, 5));
  const [uartIsr, uartUser, rngIrqs, rngUser, iirSeen, isrSeen, rxCount, userCs] = res.slice(-8);
  // The ISR ran for some of the line's rising edges (edges during an ISR merge), at least for RX and THRE.
  expect(uartIsr).toBeGreaterThanOrEqual(2);
  expect(uartIsr).toBeLessThanOrEqual(r.devices!.uartIrqs);
  expect(uartUser).toBe(1); // the second line, once CPL3 re-enabled IER.ERBFI
  expect(rngIrqs).toBe(5);
  expect(rngUser).toBe(1); // the request posted and notified at CPL3
  expect(iirSeen).toBe((1 << 1) | (1 << 2) | (1 << 4)); // IIR 0xc1 (none), 0xc2 (THR empty), 0xc4 (data)
  expect(isrSeen).toBe(1); // InterruptStatus: used buffer
  expect(rxCount).toBe(INPUT.length);
  expect(userCs).toBe(0x23); // the user CS (RPL 3) the ISRs found in their frames
  // Output is interrupt-driven: far fewer IIR reads than bytes would make it polled.
  expect(r.counts.get('io out 0x3f8 uart16550')).toBe(X86_TEXT.length + 1); // + the divisor latch
  expect(r.counts.get('io in 0x3fd uart16550') ?? 0).toBeLessThan(X86_TEXT.length);
}

function checkArm64(r: RunResult, src: { given: number[] }) {
  expect(r.detail).toBe('the guest powered off (PSCI SYSTEM_OFF)');
  expect(text(r)).toBe(ARM64_TEXT);
  expectRngOverEventfds(r, src, 6);
  const res = r.results;
  expect(res.slice(0, 6)).toEqual(HEADER);
  expect(res.slice(6, -9)).toEqual(requestWords(src.given, 6));
  const [uartIsr, rngIrqs, misSeen, isrSeen, rxCount, uartEl0, rngEl0, elrLow, handlerHigh] = res.slice(-9);
  expect(uartIsr).toBeGreaterThanOrEqual(2);
  expect(rngIrqs).toBe(6);
  expect([uartEl0, rngEl0]).toEqual([1, 1]); // the second line (EL0 unmasked RX) and EL0's own request
  expect([elrLow, handlerHigh]).toEqual([1, 1]); // taken from lower-half EL0 code to the upper-half handler
  // UARTMIS: TX, and the receive timeout (12 bytes stay under the 16-byte trigger level).
  expect(misSeen).toBe(PL011_INT.TX | PL011_INT.RT);
  expect(isrSeen).toBe(1);
  expect(rxCount).toBe(INPUT.length);
  // No byte of the output is polled: FR is read only by the RX handler (one per byte and one more per burst).
  expect(r.counts.get('mmio read 0x9000018 pl011') ?? 0).toBeLessThanOrEqual(INPUT.length + 2);
}

describe.each(X86_ENGINES)('mini-VMM devices, x86 virtual backend ($name)', (engine) => {
  it('16550 on IRQ4 both ways, virtio-rng over ioeventfd + irqfd, kernel half and CPL3', () => {
    const { r, src } = runX86(virtualSys(engine.opts), 7);
    checkX86(r, src);
  });
});

describe.each([false, true])('mini-VMM devices, arm64 virtual backend (jit %s)', (jit) => {
  it('PL011 TX/RX interrupts on SPI 1, virtio-rng over ioeventfd + irqfd on SPI 16, at EL1 and from EL0 (kernel half)', () => {
    const { r, src } = runArm64(virtualSys({ arch: 'arm64', jit }), 11);
    checkArm64(r, src);
  });
});

const noKvm = (arch: string, here: boolean) => (here ? '' : ` (skipped: no usable ${arch} /dev/kvm on this machine)`);
describe('mini-VMM devices on /dev/kvm: the same VMM code, guests and checks', () => {
  it.skipIf(!nativeX86)(`x86 on the native backend${noKvm('x86-64', nativeX86)}`, () => {
    const { r, src } = runX86(nativeSys(), 7);
    checkX86(r, src);
  });
  it.skipIf(!nativeArm64)(`arm64 on the native backend${noKvm('arm64', nativeArm64)}`, () => {
    const { r, src } = runArm64(nativeSys(), 11);
    checkArm64(r, src);
  });
});

describe('mini-VMM device models', () => {
  it('PL011: TXRIS per byte, UARTMIS = RIS & IMSC drives the line, UARTICR clears', () => {
    const out: number[] = [];
    const levels: boolean[] = [];
    const u = new Pl011(0, (b) => out.push(b), { set: (l) => levels.push(l) });
    expect(u.read(0x3c)).toBe(0);
    u.write(0, 4, 0x41);
    expect(out).toEqual([0x41]);
    expect(u.read(0x3c)).toBe(PL011_INT.TX);
    expect(u.read(0x40)).toBe(0);
    expect(levels.at(-1)).toBe(false);
    u.write(0x38, 4, PL011_INT.TX);
    expect(u.read(0x40)).toBe(PL011_INT.TX);
    expect(levels.at(-1)).toBe(true);
    u.write(0x44, 4, PL011_INT.TX);
    expect([u.read(0x3c), u.read(0x40), levels.at(-1)]).toEqual([0, 0, false]);
    u.write(0x3c, 4, 0xffff); // RIS is read-only
    expect(u.read(0x3c)).toBe(0);
  });

  it('PL011: RX at the FIFO trigger level, receive timeout below it, cleared by reading; FEN flushes', () => {
    const u = new Pl011(0, () => {}, { set() {} });
    // No FIFO: a one-byte holding register, RX at one byte; the rest waits.
    u.receive([1, 2]);
    expect([u.read(0x3c), u.read(0x18) & 0x50, u.pendingInput]).toEqual([PL011_INT.RX, 0x40, 1]);
    expect(u.read(0)).toBe(1); // the next byte moves in: RX again
    expect(u.read(0x3c)).toBe(PL011_INT.RX);
    expect(u.read(0)).toBe(2);
    expect([u.read(0x3c), u.read(0x18) & 0x10]).toEqual([0, 0x10]);
    // FIFO on (32 deep, RX level 1/2 = 16): 3 bytes give the receive timeout, 16 give RX.
    u.write(0x2c, 4, 0x70);
    u.receive([1, 2, 3]);
    expect(u.read(0x3c)).toBe(PL011_INT.RT);
    u.receive(Array.from({ length: 13 }, (_, i) => i));
    expect(u.read(0x3c)).toBe(PL011_INT.RT | PL011_INT.RX);
    expect(u.read(0)).toBe(1); // 15 left: below the level
    expect(u.read(0x3c)).toBe(PL011_INT.RT);
    u.write(0x44, 4, PL011_INT.RT);
    expect(u.read(0x3c)).toBe(0);
    expect(u.rxSpace).toBe(32 - 15);
    u.write(0x2c, 4, 0x60); // FIFO off: flushed
    expect([u.read(0x18) & 0x10, u.rxSpace]).toEqual([0x10, 1]);
  });

  it('a console feeder types into an interrupt-driven UART only while its receive interrupt is on', () => {
    const uart = new Uart16550(0x3f8, () => {}, { set() {} });
    expect(uart.acceptsInput).toBe(false);
    uart.write(1, 1, 1); // IER.ERBFI
    expect(uart.acceptsInput).toBe(true);
    expect(new Uart16550(0x3f8, () => {}).acceptsInput).toBe(true); // polled
    const pl = new Pl011(0, () => {}, { set() {} });
    expect(pl.acceptsInput).toBe(false);
    pl.write(0x38, 4, PL011_INT.RT);
    expect(pl.acceptsInput).toBe(true);
  });

  it('refuses virtio-rng without the in-kernel irqchip (its interrupt is an irqfd)', () => {
    expect(() => runGuest({ arch: 'x86_64', image: image(X86_GUEST), virtioRng: true })).toThrow(/needs the in-kernel irqchip/);
  });
});

describe('vkvm run with the devices', () => {
  const cli = (args: string[]) => {
    const out: Buffer[] = [];
    let err = '';
    const code = main(args, { ...processIo, stdout: (c) => void out.push(Buffer.from(c)), stderr: (c) => void (err += c) });
    return { code, out: Buffer.concat(out).toString('latin1'), err };
  };

  it('--irqchip kernel --virtio-rng --input: the x86 guest, its summary names the ioeventfd kicks', () => {
    const r = cli(['run', resolve(ROOT, X86_GUEST), '--arch', 'x86_64', '--irqchip', 'kernel', '--virtio-rng', '--input', 'hello\\nworld\\n']);
    expect(r.code).toBe(EXIT.OK);
    expect(r.out).toBe(X86_TEXT);
    expect(r.err).toMatch(/virtio-rng: 5 requests \(60 B\), notified by ioeventfd 5x and by QueueNotify exits 0x, 5 irqfd interrupts/);
  });

  it('--virtio-rng needs --irqchip kernel; --input escapes are checked', () => {
    const a = cli(['run', resolve(ROOT, X86_GUEST), '--arch', 'x86_64', '--virtio-rng']);
    expect([a.code, a.err]).toEqual([EXIT.USAGE, 'vkvm: --virtio-rng needs --irqchip kernel (its interrupt is an irqfd)\n']);
    const b = cli(['run', resolve(ROOT, X86_GUEST), '--arch', 'x86_64', '--irqchip', 'kernel', '--input', 'a\\q']);
    expect([b.code, b.err]).toEqual([EXIT.USAGE, 'vkvm: --input: unknown escape \\q\n']);
    const c = cli(['run', resolve(ROOT, X86_GUEST), '--arch', 'x86_64', '--irqchip', 'split']);
    expect(c.code).toBe(EXIT.USAGE);
  });
});
