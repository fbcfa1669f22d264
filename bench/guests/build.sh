#!/bin/sh
# Builds the benchmark guests from work.c (one source for every target):
#   x86/work.bin    x86-64, flat, linked at 0x100000, entered in long mode (edi rounds, esi mask)
#   arm64/work.bin  arm64, flat, linked at 0x40000000, entered at EL1 (x0 rounds, x1 mask)
#   arm64/irq.bin   arm64 interrupt guest (irq.S), flat at 0x40000000: the irqfd round trip and the
#                   timer interrupt rate of bench/irq.ts
#   work.expect     checksums of the host build (the reference every target must match)
# `npm run bench` builds the host and qemu-user programs itself (into a temporary directory)
# with the flags below, so their workload() is the same machine code as the guests'.
# Needs gcc, ld, objcopy and aarch64-linux-gnu-{gcc,ld,objcopy}.
set -eu
cd "$(dirname "$0")"
COMMON="-O2 -ffreestanding -fno-builtin -fno-tree-loop-distribute-patterns -fno-strict-aliasing -mgeneral-regs-only -fno-stack-protector -fno-asynchronous-unwind-tables"
X86_CFLAGS="$COMMON -m64 -mno-red-zone -fno-pic -fcf-protection=none"
A64_CFLAGS="$COMMON -fno-pic"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

gcc $X86_CFLAGS -c work.c -o "$tmp/work.o"
gcc $X86_CFLAGS -c x86/entry.c -o "$tmp/entry.o"
gcc $X86_CFLAGS -c x86/start.S -o "$tmp/start.o"
ld -static -nostdlib --no-warn-rwx-segments -T x86/link.ld -o "$tmp/x86.elf" "$tmp/start.o" "$tmp/entry.o" "$tmp/work.o"
objcopy -O binary "$tmp/x86.elf" x86/work.bin

aarch64-linux-gnu-gcc $A64_CFLAGS -c work.c -o "$tmp/a64work.o"
aarch64-linux-gnu-gcc -c arm64/start.S -o "$tmp/a64start.o"
aarch64-linux-gnu-ld --no-warn-rwx-segments -T arm64/link.ld -o "$tmp/a64.elf" "$tmp/a64start.o" "$tmp/a64work.o"
aarch64-linux-gnu-objcopy -O binary "$tmp/a64.elf" arm64/work.bin
aarch64-linux-gnu-gcc -c arm64/irq.S -o "$tmp/a64irq.o"
aarch64-linux-gnu-ld -Ttext=0x40000000 -o "$tmp/a64irq.elf" "$tmp/a64irq.o"
aarch64-linux-gnu-objcopy -O binary "$tmp/a64irq.elf" arm64/irq.bin

gcc $X86_CFLAGS -c work.c -o "$tmp/hwork.o"
gcc -O2 -no-pie -o "$tmp/host" host.c "$tmp/hwork.o"
: > work.expect
for r in 1 2 5; do "$tmp/host" $r 0 | awk '{print "rounds=" $1 " mask=" $2 " checksum=" $4}' >> work.expect; done
for m in 0 1 2 4 8; do "$tmp/host" 8 $m | awk '{print "rounds=" $1 " mask=" $2 " checksum=" $4}' >> work.expect; done
echo "bench guests built: x86 $(wc -c < x86/work.bin) bytes, arm64 $(wc -c < arm64/work.bin) bytes"
