#!/bin/sh
# Assembles the KVMI test guest into the committed kvmi-guest.bin (needs nasm).
set -eu
cd "$(dirname "$0")"
nasm -f bin -o kvmi-guest.bin kvmi-guest.asm
echo "kvmi guest built"
