#!/bin/sh
# Assembles the block-JIT test guests (committed as <name>.bin).
set -eu
cd "$(dirname "$0")"
for src in *.asm; do nasm -f bin -o "${src%.asm}.bin" "$src"; done
