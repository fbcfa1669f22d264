#!/bin/sh
# Builds the TD guest firmware (nasm) into the committed td-guest.bin.
set -eu
cd "$(dirname "$0")"
nasm -f bin -o td-guest.bin td-guest.asm
