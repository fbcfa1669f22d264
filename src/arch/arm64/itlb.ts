/**
 * Instruction fetch translation for the arm64 CPU: the instruction TLB (virtual page -> guest
 * frame and its words, [EL0 | EL1] halves as the data TLBs) in front of the stage-1 walk, so a
 * fetch from another page (every branch out of the page, every block lookup) does not walk the
 * page tables. Flushed with the data TLBs (TLBI, MMU configuration, memslot changes).
 * @module
 */
import { KvmError } from '../../sys/error.js';
import { EC, type Cpu } from './cpu.js';
import { ACC_X, FSC, translate } from './mmu.js';

const SIZE = 256;
const EMPTY = new Int32Array(1024);

export class FetchTlb {
  private readonly tag = new Float64Array(2 * SIZE).fill(NaN);
  private readonly gfn = new Float64Array(2 * SIZE);
  private readonly words: Int32Array[] = new Array<Int32Array>(2 * SIZE).fill(EMPTY);
  /** Word views of guest frames, by frame number. */
  private readonly views = new Map<number, Int32Array>();

  flush(): void {
    this.tag.fill(NaN);
    this.views.clear();
  }

  /** Makes `c.fetchWords`/`fetchVa` cover `c.pc`, or raises the fetch fault (Cpu.fetchSlow). */
  fetch(c: Cpu): void {
    const pc = c.pc;
    c.insnPc = pc;
    if ((pc & 3) !== 0) c.exception(EC.PC_ALIGN, 0, pc);
    const vpn = Math.floor(pc / 4096);
    const i = (vpn & (SIZE - 1)) | (c.el ? SIZE : 0);
    let gfn: number;
    let words: Int32Array | undefined;
    if (this.tag[i] === vpn) {
      gfn = this.gfn[i]!;
      words = this.words[i]!;
    } else {
      const pa = translate(c, pc, ACC_X, c.el, c.tr);
      if (pa < 0) {
        const fsc = -1 - pa;
        c.exception(c.el ? EC.IABT_CUR : EC.IABT_LOW, fsc === FSC.EXT_ABORT ? FSC.EXT_ABORT : fsc, pc);
      }
      gfn = Math.floor(pa / 4096);
      words = this.views.get(gfn);
      if (!words) {
        const page = c.vm.guestPage(gfn, false);
        // An instruction fetch outside the memslots: KVM injects a prefetch abort (external abort).
        if (page === 'mmio') c.exception(c.el ? EC.IABT_CUR : EC.IABT_LOW, FSC.EXT_ABORT, pc);
        if (page === 'efault') throw KvmError.of('EFAULT', 'ioctl', { message: `guest memory at gpa 0x${pa.toString(16)} is not mapped` });
        words = new Int32Array(page.bytes.buffer, page.bytes.byteOffset + page.offset, 1024);
        this.views.set(gfn, words);
      }
      this.tag[i] = vpn;
      this.gfn[i] = gfn;
      this.words[i] = words;
    }
    c.fetchWords = words;
    c.fetchVa = pc - (pc & 4095);
    c.fetchEl = c.el;
    c.fetchGfn = gfn;
  }
}
