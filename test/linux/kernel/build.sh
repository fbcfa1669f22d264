#!/bin/sh
# Builds the fixture kernels from Debian's linux-source-6.12 (apt-get install linux-source-6.12
# bc flex bison libelf-dev libssl-dev gcc-aarch64-linux-gnu):
#   test/linux/kernel/build.sh x86_64|arm64 [BUILD_DIR]
# `make tinyconfig` + common.config + <arch>.config, then `make olddefconfig`; the resolved
# configuration is kept as <arch>.resolved.config. Outputs (committed; CI never rebuilds them):
#   x86_64: test/linux/bin/x86_64/bzImage     arm64: test/linux/bin/arm64/Image.gz
# and test/linux/bin/SHA256SUMS is refreshed. Takes several minutes per arch on 2 cores.
set -eu
ARCH_NAME=${1:?usage: build.sh x86_64|arm64 [BUILD_DIR]}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$HERE/../bin
BUILD=${2:-${VKVM_LINUX_BUILD:-/tmp/vkvm-linux-build}}
TARBALL=/usr/src/linux-source-6.12.tar.xz
JOBS=${JOBS:-2}
case $ARCH_NAME in
  x86_64) KARCH=x86_64; CROSS=; TARGET=bzImage; OUT=arch/x86/boot/bzImage; FILE=bzImage ;;
  arm64) KARCH=arm64; CROSS=aarch64-linux-gnu-; TARGET=Image.gz; OUT=arch/arm64/boot/Image.gz; FILE=Image.gz ;;
  *) echo "unknown arch $ARCH_NAME" >&2; exit 2 ;;
esac
SRC=$BUILD/linux-source-6.12
if [ ! -d "$SRC" ]; then
  [ -f "$TARBALL" ] || { echo "$TARBALL missing: apt-get install linux-source-6.12" >&2; exit 1; }
  mkdir -p "$BUILD"
  tar -C "$BUILD" -xf "$TARBALL"
fi
O=$BUILD/out-$ARCH_NAME
mkdir -p "$O"
# Reproducible-ish builds: fixed build user/host/timestamp.
export KBUILD_BUILD_USER=vkvm KBUILD_BUILD_HOST=vkvm KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 2026'
M="make -C $SRC O=$O ARCH=$KARCH CROSS_COMPILE=$CROSS"
$M tinyconfig >/dev/null
(cd "$O" && KCONFIG_CONFIG=.config "$SRC/scripts/kconfig/merge_config.sh" -m .config "$HERE/common.config" "$HERE/$ARCH_NAME.config" >/dev/null)
$M olddefconfig >/dev/null
# Every option the fragments ask for must have survived olddefconfig (a missing dependency drops it).
for f in "$HERE/common.config" "$HERE/$ARCH_NAME.config"; do
  grep -E '^(CONFIG_[A-Z0-9_]+=|# CONFIG_[A-Z0-9_]+ is not set)' "$f" | while read -r line; do
    case $line in
      "# CONFIG_"*) sym=${line#\# }; sym=${sym%% *}; if grep -q "^$sym=" "$O/.config"; then echo "warning: $sym is still set" >&2; fi ;;
      *) if ! grep -qx "$line" "$O/.config"; then echo "warning: $line did not survive olddefconfig" >&2; fi ;;
    esac
  done
done
cp "$O/.config" "$HERE/$ARCH_NAME.resolved.config"
$M -j"$JOBS" $TARGET
mkdir -p "$BIN/$ARCH_NAME"
cp "$O/$OUT" "$BIN/$ARCH_NAME/$FILE"
(cd "$BIN" && find . -type f ! -name SHA256SUMS | sort | sed 's#^\./##' | xargs sha256sum > SHA256SUMS)
ls -l "$BIN/$ARCH_NAME/$FILE"
