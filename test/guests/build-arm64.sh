#!/bin/sh
# Builds the arm64 guest programs under test/guests/arm64 into committed .bin files:
#   *.S, smp/*.S, robust/*.S, vmm/*.S  bare-metal programs, linked at 0x40000000 (RAM base of the
#                       test VMs and of the mini-VMM; vmm/ uses irq/irq.inc's GICv3 setup and
#                       irq/el0.inc's kernel-half/EL0 phase; mmu.S, ioeventfd.S and el0.inc turn the
#                       MMU on with mmu.inc)
#   irq/*.S             interrupt guests for the "virt" board's GICv3 (irq.inc; el0.inc, its.inc for
#                       the EL0 and ITS guests): irq/<name>.bin, and with
#                       qemu-system-aarch64, irq/<name>.expect (their output under
#                       -M virt,gic-version=3, TCG, 2 CPUs), which vkvm must reproduce; timer and
#                       uart also for its GICv2 (-DGICV2): irq/<name>-v2.{bin,expect}
#   groups/*.inc        instruction-group bodies, wrapped twice: group-bare.S -> groups/<name>.bin
#                       for vkvm, group-user.S -> a Linux binary run under qemu-aarch64 to record
#                       groups/<name>.expect (the register/memory dump the emulator must match)
# Needs aarch64-linux-gnu-{gcc,ld,objcopy}; qemu-aarch64 and qemu-system-aarch64 for the .expect files.
set -eu
cd "$(dirname "$0")/arm64"
CC=aarch64-linux-gnu-gcc
LD=aarch64-linux-gnu-ld
OBJCOPY=aarch64-linux-gnu-objcopy
CFLAGS="-march=armv8.1-a+crc -nostdlib -ffreestanding -I."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bare() { # src out
  $CC $CFLAGS -c "$1" -o "$tmp/o.o" ${3:-}
  $LD -Ttext=0x40000000 -o "$tmp/o.elf" "$tmp/o.o"
  $OBJCOPY -O binary "$tmp/o.elf" "$2"
}

for src in *.S; do
  case "$src" in group-*) continue ;; esac
  bare "$src" "${src%.S}.bin"
done

for src in smp/*.S robust/*.S vmm/*.S; do
  bare "$src" "${src%.S}.bin"
done

irq() { # src out-stem gic-version [cflags]
  bare "$1" "$2.bin" "${4:-}"
  if command -v qemu-system-aarch64 >/dev/null; then
    $LD -Ttext=0x40000000 -o "$tmp/irq.elf" "$tmp/o.o"
    timeout 60 qemu-system-aarch64 -M virt,gic-version=$3 -cpu cortex-a57 -smp 2 -display none \
      -monitor none -serial stdio -kernel "$tmp/irq.elf" < /dev/null > "$2.expect"
  fi
}
for src in irq/*.S; do
  irq "$src" "${src%.S}" 3
done
for name in timer uart; do
  irq "irq/$name.S" "irq/$name-v2" 2 -DGICV2
done

for body in groups/*.inc; do
  name=${body%.inc}
  bare group-bare.S "$name.bin" "-DGROUP_BODY=\"$body\""
  if command -v qemu-aarch64 >/dev/null; then
    $CC $CFLAGS -static -c group-user.S -o "$tmp/u.o" "-DGROUP_BODY=\"$body\""
    $LD -o "$tmp/u.elf" "$tmp/u.o"
    qemu-aarch64 -cpu max "$tmp/u.elf" > "$name.expect"
  fi
done

echo "arm64 guests built"
