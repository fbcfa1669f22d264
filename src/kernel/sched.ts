/**
 * The scheduler statistics KVM reads from the task that runs a vCPU: `current->sched_info.
 * run_delay`, the nanoseconds the task spent runnable but waiting for a CPU (arm64 PV stolen time,
 * arch/arm64/kvm/pvtime.c). vkvm's "current" is the host thread that issued KVM_RUN; Linux
 * publishes its run_delay as the second field of /proc/<tid>/schedstat (CONFIG_SCHED_INFO, the
 * kernel's sched_info_on()).
 * @module
 */
import { closeSync, openSync, readSync } from 'node:fs';

const buf = new Uint8Array(96);

/** run_delay (ns) from a schedstat file (`/proc/thread-self/schedstat`, `/proc/<tid>/schedstat`), or -1. */
export function readRunDelay(path: string): number {
  let fd = -1;
  try {
    fd = openSync(path, 'r');
    const n = readSync(fd, buf, 0, buf.length, 0);
    // "<on-cpu ns> <run_delay ns> <timeslices>\n"
    let i = 0;
    while (i < n && buf[i] !== 0x20) i++;
    let v = 0;
    let digits = 0;
    for (i++; i < n && buf[i]! >= 0x30 && buf[i]! <= 0x39; i++, digits++) v = v * 10 + (buf[i]! - 0x30);
    return digits ? v : -1;
  } catch {
    return -1;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** The calling thread's run_delay, or -1. */
export function threadRunDelay(): number {
  return readRunDelay('/proc/thread-self/schedstat');
}

let schedInfo: boolean | undefined;

/** sched_info_on(): this host publishes run_delay (probed once). */
export function schedInfoOn(): boolean {
  return (schedInfo ??= threadRunDelay() >= 0);
}
