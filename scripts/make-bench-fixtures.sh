#!/usr/bin/env bash
# Builds the benchmark repositories for gtfs.
#
#   scripts/make-bench-fixtures.sh <dir> [--quick]
#
#   <dir>/wide   50,000 files (quick: 5,000) of 1-16 KiB in 2,500 directories
#                (quick: 250): top dirs tNN/ with 20 files each, each holding 49
#                subdirs sNN/ with 20 files each, so files sit 2 or 3 levels deep.
#   <dir>/large  one file large.bin of 512 MiB (quick: 64 MiB), about half
#                compressible.
#
# Both are non-bare repositories with one commit on main, then
# `git repack -adq` (all objects in one pack). Content, authors and dates are
# fixed, so commit ids are the same on every run. A fixture is finished when
# <dir>/<name>/.complete exists (written last; it holds the commit id and is
# not committed); finished fixtures are skipped, unfinished ones are rebuilt.
# --quick and full fixtures are different sizes: use a different <dir> for each
# (a fixture of the other size is refused).
set -euo pipefail

usage () { echo "usage: $0 <dir> [--quick]" >&2; exit 2; }

dir=''
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    -h|--help) usage ;;
    -*) echo "$0: unknown option $1" >&2; usage ;;
    *) [ -z "$dir" ] || usage; dir="$1"; shift ;;
  esac
done
[ -n "$dir" ] || usage

if [ "$quick" = 1 ]; then
  wide_files=5000 wide_dirs=250 large_mib=64 size_name=quick
else
  wide_files=50000 wide_dirs=2500 large_mib=512 size_name=full
fi

mkdir -p -- "$dir"
dir="$(cd -- "$dir" && pwd)"

. "$(dirname "$0")/hermetic-git.sh"
hermetic_git Bench bench@gtfs.test 2024-02-01T00:00:00+0000

g () { git -C "$repo" -c core.autocrlf=false -c gc.auto=0 \
  -c user.name="$GIT_AUTHOR_NAME" -c user.email="$GIT_AUTHOR_EMAIL" "$@"; }

now () { date +%s.%N; }
since () { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# begin NAME DESCRIPTION: returns 1 if the fixture is already complete.
begin () {
  repo="$dir/$1"
  if [ -f "$repo/.complete" ]; then
    if ! grep -qx "size=$size_name" "$repo/.complete"; then
      echo "$0: $repo was built with the other size ($(grep '^size=' "$repo/.complete" || true)); use another <dir>" >&2
      exit 2
    fi
    echo "bench fixtures: $1: $2: complete, skipped"
    return 1
  fi
  [ -e "$repo" ] && echo "bench fixtures: $1: incomplete, rebuilding"
  rm -rf -- "$repo"
  git -c init.defaultBranch=main init -q -- "$repo"
  g config gc.auto 0
  t0=$(now)
  echo "bench fixtures: $1: $2 ..."
}

# finish NAME MESSAGE: commit everything on main, pack it, write .complete.
finish () {
  local c
  printf '/.complete\n' >> "$repo/.git/info/exclude"
  echo "bench fixtures: $1: git add ... ($(since "$t0"))"
  g add -A
  c=$(printf '%s\n' "$2" | g commit-tree "$(g write-tree)")
  g update-ref refs/heads/main "$c"
  echo "bench fixtures: $1: git repack -adq ... ($(since "$t0"))"
  g repack -adq
  g prune-packed
  printf 'commit=%s\nsize=%s\n' "$c" "$size_name" > "$repo/.complete.tmp"
  mv -- "$repo/.complete.tmp" "$repo/.complete"
  echo "bench fixtures: $1: done, main=$c, pack $(du -sh "$repo/.git/objects/pack" | cut -f1) ($(since "$t0"))"
}

if begin wide "$wide_files files in $wide_dirs directories"; then
  # One python3 process writes every file.
  python3 - "$repo" "$wide_files" "$wide_dirs" <<'PY'
import hashlib, os, sys
root, nfiles, ndirs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
per_top = 50                      # each top dir plus its 49 subdirs
tops = ndirs // per_top
dirs = []
for t in range(tops):
    top = 't%02d' % t
    dirs.append(top)
    dirs.extend('%s/s%02d' % (top, s) for s in range(per_top - 1))
per_dir = nfiles // len(dirs)
extra = nfiles - per_dir * len(dirs)
# A pool of hex text (4 bits of entropy a byte: compresses to about half).
pool = hashlib.shake_256(b'gtfs-bench-wide-pool').hexdigest(4 << 20).encode()
n = 0
for i, d in enumerate(dirs):
    os.makedirs(os.path.join(root, d), exist_ok=True)
    for j in range(per_dir + (1 if i < extra else 0)):
        h = hashlib.sha256(b'%d' % n).digest()
        size = 1024 + int.from_bytes(h[:4], 'big') % (15 * 1024 + 1)   # 1..16 KiB
        off = int.from_bytes(h[4:8], 'big') % (len(pool) - size)
        head = b'%s/f%05d.txt\n' % (d.encode(), n)
        with open(os.path.join(root, d, 'f%05d.txt' % n), 'wb') as f:
            f.write((head + pool[off:off + size])[:size])
        n += 1
assert n == nfiles, n
PY
  echo "bench fixtures: wide: $wide_files files written ($(since "$t0"))"
  finish wide "bench: $wide_files files in $wide_dirs directories"
fi

if begin large "large.bin, $large_mib MiB"; then
  python3 - "$large_mib" > "$repo/large.bin" <<'PY'
import hashlib, sys
mib = int(sys.argv[1])
out = sys.stdout.buffer
chunk = 64 * 1024
for i in range(mib * 1024 * 1024 // chunk):
    # half pseudo-random bytes, half repetitive text
    out.write(hashlib.shake_256(b'gtfs-bench-large-%d' % i).digest(chunk // 2))
    line = b'chunk %08d of large.bin: compressible filler text.\n' % i
    out.write((line * (chunk // 2 // len(line) + 1))[:chunk // 2])
PY
  echo "bench fixtures: large: $large_mib MiB written ($(since "$t0"))"
  finish large "bench: large.bin, $large_mib MiB"
fi

echo "bench fixtures: $dir ready ($size_name)"
