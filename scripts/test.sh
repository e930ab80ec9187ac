#!/usr/bin/env bash
# The test suite: type check, then every test/**/*.test.ts through node:test and tsx.
# Tests make their temp dirs under a TMPDIR of this run only, so the trap that
# unmounts what a crashed test left behind touches this run's mounts and no others.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s globstar nullglob

run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/gtfs-run.XXXXXX")
export TMPDIR="$run_tmp"

cleanup () {
  local status=$? m
  for m in $(awk -v t="$run_tmp/" '$3 ~ /^fuse/ && index($2, t) == 1 {print $2}' /proc/self/mounts 2>/dev/null); do
    m=$(printf '%b' "$m")
    echo "test: unmounting leftover $m" >&2
    fusermount -uz "$m" 2>/dev/null || true
  done
  rm -rf "$run_tmp" 2>/dev/null || true
  exit "$status"
}
trap cleanup EXIT

echo "test: type check"
node_modules/.bin/tsc --noEmit -p .

files=("$@")
[ ${#files[@]} -gt 0 ] || files=(test/**/*.test.ts)
echo "test: ${#files[@]} test files"
GTFS_TEST=1 node --import tsx --test --test-reporter=spec "${files[@]}"
