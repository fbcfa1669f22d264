#!/bin/sh
# Builds Linux's KVM selftests (tools/testing/selftests/kvm) from Debian's linux-source package
# for x86_64 and, with the cross compiler, arm64 — the programs `npm run selftests` runs through
# `vkvm exec`.
#
#   test/selftests/build.sh [x86_64|arm64|all]        (default: all)
#
# Needs: linux-source-6.12 (apt-get install linux-source-6.12: /usr/src/linux-source-6.12.tar.xz),
# make, gcc, bison/flex-free (only `make headers` and the selftests' own Makefile run), and
# gcc-aarch64-linux-gnu for arm64. Work goes to $VKVM_SELFTESTS_DIR (default ~/.cache/vkvm/selftests):
#   src/            the extracted tree (arch/, include/, scripts/, tools/... only)
#   hdr-<arch>/     `make headers` output for that arch
#   <arch>/         the test binaries, laid out as the selftests' Makefile does
# A second run rebuilds only what changed.
set -eu
want=${1:-all}
tarball=${LINUX_SOURCE_TAR:-$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -1)}
[ -n "$tarball" ] && [ -f "$tarball" ] || { echo "no /usr/src/linux-source-*.tar.xz: apt-get install linux-source-6.12" >&2; exit 2; }
work=${VKVM_SELFTESTS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vkvm/selftests}
mkdir -p "$work"
src="$work/src"
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

if [ ! -f "$src/.extracted" ] || [ "$(cat "$src/.extracted")" != "$tarball" ]; then
  echo "extracting $tarball"
  rm -rf "$src" && mkdir -p "$src"
  # The selftests need the build system, the uapi headers and tools/; the drivers, filesystems,
  # networking and sound trees (most of the tarball) are left out.
  tar -xJf "$tarball" -C "$src" --strip-components=1 \
    --exclude='*/drivers' --exclude='*/sound' --exclude='*/Documentation' --exclude='*/fs' --exclude='*/net' --exclude='*/firmware'
  echo "$tarball" > "$src/.extracted"
fi
echo "linux $(make -s -C "$src" kernelversion 2>/dev/null || echo '?') from $tarball"

build() { # $1 arch (x86_64|arm64), $2 kernel ARCH, $3 CROSS_COMPILE
  arch=$1 karch=$2 cross=$3
  if [ -n "$cross" ] && ! command -v "${cross}gcc" >/dev/null 2>&1; then
    echo "skipping $arch: ${cross}gcc not installed" >&2
    return 0
  fi
  hdr="$work/hdr-$arch"
  if [ ! -f "$hdr/usr/include/linux/kvm.h" ]; then
    echo "installing $arch uapi headers"
    make -s -C "$src" O="$hdr" ARCH="$karch" headers >/dev/null
  fi
  echo "building $arch selftests"
  make -s -j"$jobs" -C "$src/tools/testing/selftests/kvm" ARCH="$karch" ${cross:+CROSS_COMPILE=$cross} \
    OUTPUT="$work/$arch" LINUX_HDR_PATH="$hdr/usr/include/" KHDR_INCLUDES="-isystem $hdr/usr/include" >"$work/build-$arch.log" 2>&1 \
    || { tail -30 "$work/build-$arch.log" >&2; exit 1; }
  echo "$arch: $(find "$work/$arch" -type f -perm -u+x | wc -l) programs in $work/$arch"
}

case "$want" in
  x86_64) build x86_64 x86 "" ;;
  arm64) build arm64 arm64 aarch64-linux-gnu- ;;
  all) build x86_64 x86 ""; build arm64 arm64 aarch64-linux-gnu- ;;
  *) echo "usage: $0 [x86_64|arm64|all]" >&2; exit 2 ;;
esac
