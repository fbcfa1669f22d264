#!/bin/sh
# Assembles the kernel-half / CPL3 regression guests (flat, loaded at 0x8000, entered in long mode).
set -eu
cd "$(dirname "$0")"
for src in *.asm; do nasm -f bin -o "${src%.asm}.bin" "$src"; done
