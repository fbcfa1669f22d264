/** Small parsers for the CLI's option values. @module */
import type { Arch } from '../index.js';
import { CliError } from './io.js';

/** An address or count: decimal, 0x hex, 0o octal or 0b binary; `_` separators allowed. */
export function parseNumber(what: string, s: string): number {
  const t = s.replace(/_/g, '');
  if (!/^(0x[0-9a-f]+|0o[0-7]+|0b[01]+|\d+)$/i.test(t)) throw new CliError(`${what}: '${s}' is not a number`);
  const n = Number(t);
  if (!Number.isSafeInteger(n)) throw new CliError(`${what}: '${s}' is too large`);
  return n;
}

/** A register value: like parseNumber, but up to 64 bits (a bigint). */
export function parseRegValue(what: string, s: string): bigint {
  const t = s.replace(/_/g, '');
  const neg = t.startsWith('-');
  const body = neg ? t.slice(1) : t;
  if (!/^(0x[0-9a-f]+|0o[0-7]+|0b[01]+|\d+)$/i.test(body)) throw new CliError(`${what}: '${s}' is not a number`);
  const v = neg ? -BigInt(body) : BigInt(body);
  if (v >= 1n << 64n || v < -(1n << 63n)) throw new CliError(`${what}: '${s}' does not fit 64 bits`);
  return BigInt.asUintN(64, v);
}

/** A size with an optional K/M/G suffix (powers of 1024). */
export function parseSize(what: string, s: string): number {
  const m = /^(.+?)([kmg])i?b?$/i.exec(s);
  const n = parseNumber(what, m ? m[1]! : s);
  const mul = m ? { k: 1 << 10, m: 1 << 20, g: 1 << 30 }[m[2]!.toLowerCase() as 'k' | 'm' | 'g'] : 1;
  return n * mul;
}

/** `x86_64` / `arm64`, with the usual aliases (x86-64, x64, amd64, aarch64). */
export function parseArch(s: string): Arch {
  const k = s.toLowerCase();
  if (k === 'x86_64' || k === 'x86-64' || k === 'x64' || k === 'amd64') return 'x86_64';
  if (k === 'arm64' || k === 'aarch64') return 'arm64';
  throw new CliError(`unknown architecture '${s}': use x86_64 or arm64`);
}
