#!/bin/sh
# Builds the demo guests of examples/guests into the committed images the mini-VMM and
# `npm run demo` run:
#   x86/hello.elf     freestanding C, 64-bit long mode, ELF at 1 MiB      (gcc -ffreestanding)
#   x86/hello16.bin   16-bit real mode, flat at 0x7c00                    (nasm)
#   x86/hello32.bin   32-bit protected mode, flat at 1 MiB                (nasm)
#   arm64/hello.elf   freestanding C, EL1, ELF at 0x40000000              (aarch64-linux-gnu-gcc)
# The benchmark images are built by bench/guests/build.sh.
set -eu
cd "$(dirname "$0")"
X86_CFLAGS="-O2 -ffreestanding -nostdlib -m64 -mno-red-zone -mgeneral-regs-only -fno-pic -fno-stack-protector -fno-asynchronous-unwind-tables -fcf-protection=none"
ARM_CFLAGS="-O2 -ffreestanding -nostdlib -mgeneral-regs-only -fno-pic -fno-stack-protector -fno-asynchronous-unwind-tables"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

gcc $X86_CFLAGS -c x86/hello.c -o "$tmp/hello.o"
gcc $X86_CFLAGS -c x86/start.S -o "$tmp/start.o"
ld -static -nostdlib --no-warn-rwx-segments -n -T x86/link.ld -o x86/hello.elf "$tmp/start.o" "$tmp/hello.o"
strip x86/hello.elf
nasm -f bin -o x86/hello16.bin x86/hello16.asm
nasm -f bin -o x86/hello32.bin x86/hello32.asm

aarch64-linux-gnu-gcc $ARM_CFLAGS -c arm64/hello.c -o "$tmp/ahello.o"
aarch64-linux-gnu-gcc $ARM_CFLAGS -c arm64/start.S -o "$tmp/astart.o"
aarch64-linux-gnu-ld -static -nostdlib --no-warn-rwx-segments -n -T arm64/link.ld -o arm64/hello.elf "$tmp/astart.o" "$tmp/ahello.o"
aarch64-linux-gnu-strip arm64/hello.elf
echo "demo guests built"
