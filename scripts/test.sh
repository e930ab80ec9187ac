#!/usr/bin/env bash
# The test suite: type check, then every test/**/*.test.ts through node:test and tsx.
# A trap unmounts anything a crashed test left under the temp directory.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s globstar nullglob

cleanup () {
  grep -E ' fuse(\.gtfs)? ' /proc/self/mounts 2>/dev/null | awk '{print $2}' | grep -E '/gtfs-test-' | while read -r m; do
    m=$(printf '%b' "$m")
    echo "test: unmounting leftover $m" >&2
    fusermount -uz "$m" 2>/dev/null || true
  done
}
trap cleanup EXIT

echo "test: type check"
node_modules/.bin/tsc --noEmit -p .

files=("$@")
[ ${#files[@]} -gt 0 ] || files=(test/**/*.test.ts)
echo "test: ${#files[@]} test files"
GTFS_TEST=1 node --import tsx --test --test-reporter=spec "${files[@]}"
