#!/bin/sh
# Builds the guest programs under test/guests into committed .bin files.
# Needs nasm (x86); aarch64-linux-gnu-{as,ld,objcopy} and gcc for the C guests as they appear.
set -eu
cd "$(dirname "$0")"
for src in x86/*.asm x86/smp/*.asm x86/irq/*.asm x86/kernel/*.asm x86/robust/*.asm x86/vmm/*.asm; do
  nasm -f bin -i "$(dirname "$src")/" -o "${src%.asm}.bin" "$src"
done
echo "guests built"
