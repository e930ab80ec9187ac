#!/usr/bin/env bash
# The test suite: type check, then every test/**/*.test.ts through node:test and tsx
# (the fault suite, test/faults/, only when named: npm run test:faults).
# Tests make their temp dirs under a TMPDIR of this run only, so the trap that
# unmounts what a crashed test left behind touches this run's mounts and no others.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s globstar nullglob

run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/gtfs-run.XXXXXX")
export TMPDIR="$run_tmp"

cleanup () {
  local status=$? m p home
  # A gtfs process of this run's homes still alive is a leak: a test that did
  # not stop its daemon, or a daemon that did not exit when stopped. Ended
  # (they are this run's own) and reported as a failure.
  for p in $(pgrep -f 'bin/gtfs' || true); do
    home=$(tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | sed -n 's/^GTFS_HOME=//p')
    if [ -n "$home" ] && [ "${home#"$run_tmp"/}" != "$home" ]; then
      echo "test: pid $p ($(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | cut -c1-120)) of $home was still running; ended" >&2
      kill -9 "$p" 2>/dev/null || true
      [ "$status" -ne 0 ] || status=1
    fi
  done
  for m in $(awk -v t="$run_tmp/" '$3 ~ /^fuse/ && index($2, t) == 1 {print $2}' /proc/self/mounts 2>/dev/null); do
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
