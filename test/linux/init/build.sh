#!/bin/sh
# Builds the fixture init for both arches and its initramfs (committed; npm test needs no toolchain):
#   test/linux/bin/<arch>/init and test/linux/bin/<arch>/initramfs.cpio
# Needs gcc and aarch64-linux-gnu-gcc; the cpio is written by mkcpio.ts (deterministic).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/../bin}
ROOT=$HERE/../../..
FLAGS="-static -nostdlib -ffreestanding -fno-builtin -Os -mgeneral-regs-only -fno-stack-protector -fno-asynchronous-unwind-tables -fno-pie -no-pie -Wl,--build-id=none -Wl,-z,noexecstack -s -Wall -Wextra -Werror"
for a in x86_64 arm64; do
  cc=gcc
  [ $a = arm64 ] && cc=aarch64-linux-gnu-gcc
  mkdir -p "$OUT/$a"
  $cc $FLAGS -o "$OUT/$a/init" "$HERE/init.c"
  (cd "$ROOT" && npx tsx "$HERE/mkcpio.ts" "$OUT/$a/init" "$OUT/$a/initramfs.cpio")
done
