#!/usr/bin/env bash
# The test suite: type check, then every test/**/*.test.ts through node:test and tsx
# (the fault suite, test/faults/, only when named: npm run test:faults).
# Each run keeps its temp files under a directory of its own (TMPDIR), and a
# trap unmounts anything a crashed test left there — and only there: another
# run on the same machine keeps its mounts.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s globstar nullglob

run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/gtfs-test-run-XXXXXX")
export TMPDIR=$run_tmp
cleanup () {
  local status=$? m
  for m in $(awk -v dir="$run_tmp/" '$3 ~ /^fuse/ && index($2, dir) == 1 {print $2}' /proc/self/mounts 2>/dev/null); do
    m=$(printf '%b' "$m")
    echo "test: unmounting leftover $m" >&2
    fusermount -uz "$m" 2>/dev/null || true
  done
  # GTFS_TEST_KEEP=1 keeps what the tests left, to look at
  [ "${GTFS_TEST_KEEP:-}" = 1 ] || rm -rf "$run_tmp" 2>/dev/null || true
  exit "$status"
}
trap cleanup EXIT

echo "test: type check"
node_modules/.bin/tsc --noEmit -p .

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  for f in test/**/*.test.ts; do [[ $f == test/faults/* ]] || files+=("$f"); done
fi
echo "test: ${#files[@]} test files"
GTFS_TEST=1 node --import tsx --test --test-reporter=spec "${files[@]}"
