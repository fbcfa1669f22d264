#!/bin/sh
# Fetches Debian's stock kernels and busybox-static for test/linux/stock.test.ts (npm run test:linux runs it first):
#   test/linux/stock/fetch.sh [DIR]     (default $VKVM_STOCK_DIR or /tmp/vkvm-stock)
# Produces DIR/{amd64,arm64}/vmlinuz and DIR/{amd64,arm64}/busybox. Uses apt-get download with a
# private package index (its own Dir::State/Dir::Cache, the system's sources), so no foreign
# architecture is added to the system. Exits 0 with nothing done when the mirror does not answer
# (the test then skips).
set -u
DIR=${1:-${VKVM_STOCK_DIR:-/tmp/vkvm-stock}}
mkdir -p "$DIR"
APT="$DIR/apt"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial"
fetch_arch() {
  arch=$1 kpkg=$2
  out=$DIR/$arch
  [ -s "$out/vmlinuz" ] && [ -s "$out/busybox" ] && return 0
  opts="-o Dir::State::Lists=$APT/lists-$arch -o Dir::Cache=$APT/cache -o APT::Architecture=$arch -o APT::Architectures=$arch -o Debug::NoLocking=1"
  mkdir -p "$APT/lists-$arch/partial"
  if ! apt-get $opts -qq update >"$DIR/apt-$arch.log" 2>&1; then
    echo "fetch.sh: apt-get update failed for $arch (mirror unreachable?); see $DIR/apt-$arch.log" >&2
    return 1
  fi
  # The meta package names the versioned image package.
  img=$(apt-cache $opts depends "$kpkg" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)
  [ -n "$img" ] || { echo "fetch.sh: cannot resolve $kpkg for $arch" >&2; return 1; }
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get $opts -qq download "$img:$arch" "busybox-static:$arch") >>"$DIR/apt-$arch.log" 2>&1 || { echo "fetch.sh: download failed for $arch" >&2; rm -rf "$tmp"; return 1; }
  mkdir -p "$out"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/root"; done
  cp "$tmp"/root/boot/vmlinuz-* "$out/vmlinuz"
  cp "$tmp/root/bin/busybox" "$out/busybox"
  echo "$img" > "$out/version"
  rm -rf "$tmp"
  echo "fetch.sh: $arch: $img ($(stat -c %s "$out/vmlinuz") bytes), busybox $(stat -c %s "$out/busybox") bytes"
}
ok=0
fetch_arch amd64 linux-image-amd64 || ok=1
fetch_arch arm64 linux-image-arm64 || ok=1
exit 0
