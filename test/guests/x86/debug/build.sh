#!/bin/sh
# Builds the guest of test/x86/debug.test.ts (the built bytes are committed).
set -eu
cd "$(dirname "$0")"
nasm -f bin -o debug_regs.bin debug_regs.asm
