#!/bin/sh
# Assembles every differential program in its modes (a "; modes: ..." line, default all three),
# committed as <name>.<mode>.bin.
set -eu
cd "$(dirname "$0")"
for src in *.asm; do
  n="${src%.asm}"
  modes=$(sed -n 's/^; modes: //p' "$src")
  for mode in ${modes:-real prot32 long64}; do
    nasm -f bin -w-number-overflow -D "MODE=$mode" -o "$n.$mode.bin" "$src"
  done
done
