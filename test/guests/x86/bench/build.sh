#!/bin/sh
# Builds the x86 benchmark image work.bin (flat, linked at 0x100000, entered in long mode) from
# work.c + entry.c + start.S, and records work.expect: the checksums of the same work.c compiled
# as a host program (host.c) -- "native execution", the reference both backends must match.
# Needs gcc (x86-64) and ld/objcopy.
set -eu
cd "$(dirname "$0")"
CFLAGS="-O2 -ffreestanding -nostdlib -m64 -mno-red-zone -mgeneral-regs-only -fno-pic -fno-stack-protector -fno-asynchronous-unwind-tables -fcf-protection=none"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc $CFLAGS -c work.c -o "$tmp/work.o"
gcc $CFLAGS -c entry.c -o "$tmp/entry.o"
gcc $CFLAGS -c start.S -o "$tmp/start.o"
ld -static -nostdlib --no-warn-rwx-segments -T link.ld -o "$tmp/work.elf" "$tmp/start.o" "$tmp/entry.o" "$tmp/work.o"
objcopy -O binary "$tmp/work.elf" work.bin
gcc -O2 -o "$tmp/host" host.c work.c
"$tmp/host" 1 2 5 > work.expect
echo "x86 bench guest built: $(wc -c < work.bin) bytes; $(head -1 work.expect)"
