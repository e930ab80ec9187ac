#!/usr/bin/env bash
# The test suite: type check, then every test/**/*.test.ts through node:test and tsx.
# A trap unmounts anything a crashed test left under the temp directory.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s globstar nullglob

cleanup () {
  local status=$? m
  for m in $(awk '$3 ~ /^fuse/ && $2 ~ /gtfs-test-/ {print $2}' /proc/self/mounts 2>/dev/null); do
    m=$(printf '%b' "$m")
    echo "test: unmounting leftover $m" >&2
    fusermount -uz "$m" 2>/dev/null || true
  done
  exit "$status"
}
trap cleanup EXIT

echo "test: type check"
node_modules/.bin/tsc --noEmit -p .

files=("$@")
[ ${#files[@]} -gt 0 ] || files=(test/**/*.test.ts)
echo "test: ${#files[@]} test files"
GTFS_TEST=1 node --import tsx --test --test-reporter=spec "${files[@]}"
