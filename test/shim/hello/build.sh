#!/bin/sh
# Builds the guest images of kvm-hello.c (committed, so tests need no toolchain for them):
#   guest16.bin  16-bit real mode (gcc -m16)   guest32.bin  32-bit protected mode (-m32)
#   guest64.bin  64-bit long mode (-m64)       all flat, loaded at address 0
set -eu
cd "$(dirname "$0")"
CFLAGS="-Os -ffreestanding -nostdlib -fno-pic -fno-pie -fno-stack-protector -fno-asynchronous-unwind-tables -fcf-protection=none -mgeneral-regs-only"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for bits in 16 32 64; do
  extra=""
  [ "$bits" = 64 ] && extra="-mno-red-zone"
  gcc $CFLAGS -m$bits $extra -c guest.c -o "$tmp/guest$bits.o"
  emu=elf_i386; [ "$bits" = 64 ] && emu=elf_x86_64
  ld -m $emu -static -nostdlib -T guest.ld -o "$tmp/guest$bits.elf" "$tmp/guest$bits.o"
  objcopy -O binary "$tmp/guest$bits.elf" "guest$bits.bin"
done
echo "hello guests built"
