/**
 * What the CLI touches outside itself, injectable so tests run it in-process: output streams,
 * files, and how the native backend is reached.
 * @module
 */
import { readFileSync } from 'node:fs';
import { nativeSys, nativeUnavailableReason, type Sys } from '../index.js';

export interface CliIo {
  /** Guest console bytes and command output. */
  stdout(chunk: string | Uint8Array): void;
  /** Diagnostics, traces, the exit summary. */
  stderr(chunk: string): void;
  readFile(path: string): Uint8Array;
  /** The native backend's Sys (default: nativeSys()). */
  nativeSys(): Sys;
  /** Why the native backend cannot be used with `device`, or undefined (default: nativeUnavailableReason). */
  nativeUnavailableReason(device: string): string | undefined;
  /** fds `vkvm exec` gives the program as its stdin/stdout/stderr (default: this process's own). */
  readonly programStdio?: readonly [number, number, number];
}

export const processIo: CliIo = {
  stdout: (c) => void process.stdout.write(c),
  stderr: (c) => void process.stderr.write(c),
  readFile: (p) => new Uint8Array(readFileSync(p)),
  nativeSys,
  nativeUnavailableReason,
};

/** A usage or input error: printed as `vkvm: <message>`, exit status 2 unless given. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.USAGE,
  ) {
    super(message);
  }
}

/** The CLI's exit statuses (besides the guest's own status, passed through by `run`). */
export const EXIT = {
  OK: 0,
  /** Bad command line, unreadable or unusable image. */
  USAGE: 2,
  /** The backend cannot be used: /dev/kvm absent or not permitted, FFI missing, wrong host arch. */
  BACKEND: 3,
  /** The guest crashed (triple fault, emulation failure...) or KVM_RUN failed. */
  GUEST_ERROR: 4,
  /** --max-exits reached. */
  MAX_EXITS: 5,
} as const;
