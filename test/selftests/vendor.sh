#!/bin/sh
# Copies the selftests listed in subset.txt from the build of build.sh into bin/, stripped and
# gzipped (what `npm test` runs, so CI needs neither linux-source nor a kernel build), and
# records their SHA-256 (of the stripped binaries) in bin/SHA256SUMS.
#   test/selftests/vendor.sh        (after test/selftests/build.sh)
set -eu
cd "$(dirname "$0")"
work=${VKVM_SELFTESTS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vkvm/selftests}
rm -rf bin/x86_64 bin/arm64
: > bin/SHA256SUMS.new
grep -v '^#' subset.txt | while read -r arch name _; do
  [ -n "$arch" ] || continue
  strip=strip; [ "$arch" = arm64 ] && strip=aarch64-linux-gnu-strip
  out="bin/$arch/$(echo "$name" | tr / _)"
  mkdir -p "bin/$arch"
  "$strip" -o "$out" "$work/$arch/$name"
  (cd bin && sha256sum "$arch/$(basename "$out")") >> bin/SHA256SUMS.new
  gzip -9nf "$out"
done
mv bin/SHA256SUMS.new bin/SHA256SUMS
cat bin/SHA256SUMS
