// (i) next to vkvm: qemu-system-* (TCG) boots the same kernel, initramfs and command line. Run by
// bench/linux.ts as `node bench/qemu-boot.mjs <json>` (a child, so the synchronous bench can time
// console lines as they come); prints {initMs, endMs, code} or {error} as JSON.
import { spawn } from 'node:child_process';

const { argv: qargv, mark, timeoutMs } = JSON.parse(process.argv[2]);
const t0 = performance.now();
let initAt = 0;
let tail = '';
const child = spawn(qargv[0], qargv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
child.stdout.on('data', (d) => {
  if (initAt) return;
  tail = (tail + d.toString('latin1')).slice(-4096);
  if (tail.includes(mark)) initAt = performance.now();
});
child.stderr.on('data', (d) => (tail = (tail + d.toString('latin1')).slice(-4096)));
child.on('error', (e) => {
  clearTimeout(timer);
  process.stdout.write(JSON.stringify({ error: String(e) }));
});
child.on('exit', (code, signal) => {
  clearTimeout(timer);
  const endMs = performance.now() - t0;
  if (!initAt) process.stdout.write(JSON.stringify({ error: `no "${mark}" (exit ${code ?? signal}): ${tail.slice(-300)}` }));
  else process.stdout.write(JSON.stringify({ initMs: initAt - t0, endMs, code: code ?? signal }));
});
