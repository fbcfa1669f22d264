#!/bin/sh
# Builds the example TD guest (nasm) into the committed td-hello.bin.
set -eu
cd "$(dirname "$0")"
nasm -f bin -o td-hello.bin td-hello.asm
