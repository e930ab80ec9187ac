#!/usr/bin/env bash
# Builds the deterministic test fixture repository for gtfs.
#
#   scripts/make-fixture.sh <dir> [--big-mib N]
#
# <dir> becomes a non-bare git repository (work tree + .git). Fixed author,
# committer, dates and config, so two runs give the same commit ids.
#
# Refs:
#   main  second commit: README.md modified, added-later.txt added (loose objects)
#   old   first commit (everything below; packed by `git repack -adq`, with ofs deltas)
#   v1    annotated tag -> first commit (the tag object is packed too)
#
# Content of the first commit:
#   README.md, EMPTY (empty), empty/a, empty/b (empty)
#   deep/d01/d02/.../d20/leaf.txt           20 nested directories
#   many/f0000.txt .. many/f4999.txt        5,000 files in one directory (similar, so they delta)
#   names/héllo wörld.txt, names/日本語.md, names/with space/inner file, names/emoji-🚀.txt
#   bin/run.sh                              mode 100755, prints "hello from gtfs"
#   links/rel -> ../names/日本語.md, links/abs -> /etc/hostname,
#   links/dangling -> does/not/exist, links/dir -> ../deep/d01   (mode 120000)
#   big/blob.bin                            N MiB (default 64): shake256 stream, half of
#                                           every 64 KiB chunk random, half repetitive text
#   vendor/sub                              gitlink (mode 160000) to SUB_COMMIT (not present), + .gitmodules
#   unsafe/ok.txt                           a safe file, next to UNSAFE entries that only
#                                           plumbing can write (checkout/read-tree refuse them):
#     unsafe/..      tree holding escaped.txt     (fsck: hasDotdot)
#     unsafe/.GIT    blob                         (fsck: hasDotgit)
#     unsafe/.git    tree holding config          (fsck: hasDotgit)
#     unsafe/a/b     blob whose NAME contains '/' (fsck: fullPathname)
#     unsafe/git~1   blob                         (fsck: hasDotgit, NTFS short name)
#   `git mktree` accepts "..", ".git", ".GIT", "git~1" but refuses "a/b"
#   ("path a/b contains slash"), so the unsafe tree is written byte by byte
#   and stored with `git hash-object -t tree --literally`.
#
# The index and work tree hold everything except the unsafe entries (they
# cannot be checked out), so `git status` reports them as deleted; that is
# expected. `unsafe/ok.txt` is in the work tree.
#
# git archive (2.39.5, checked) REFUSES the whole tree: `git archive main`
# prints "error: invalid path 'unsafe/../escaped.txt'" and writes no tar data
# at all (so `| tar -x` fails with "This does not look like a tar archive").
# Each of "..", ".git", ".GIT" and "git~1" alone makes it abort the same way
# (verify_path); a pathspec such as ':!unsafe' does not help. Only "a/b" passes,
# emitted as member "a/b" (a file b in a directory a). Hence two extra refs,
# outside refs/heads and refs/tags, whose trees are the same as main's and
# old's except that unsafe/ holds only ok.txt, i.e. the view a reader that hides
# unsafe names should show:
#   refs/fixture/main-safe  (parent refs/fixture/old-safe)
#   refs/fixture/old-safe
# Tests can use `git archive refs/fixture/main-safe | tar -x`.
set -euo pipefail

usage () { echo "usage: $0 <dir> [--big-mib N]" >&2; exit 2; }

dir=''
big_mib=64
while [ $# -gt 0 ]; do
  case "$1" in
    --big-mib) [ $# -ge 2 ] || usage; big_mib="$2"; shift 2 ;;
    --big-mib=*) big_mib="${1#*=}"; shift ;;
    -h|--help) usage ;;
    -*) echo "$0: unknown option $1" >&2; usage ;;
    *) [ -z "$dir" ] || usage; dir="$1"; shift ;;
  esac
done
[ -n "$dir" ] || usage
case "$big_mib" in ''|*[!0-9]*) echo "$0: --big-mib needs a whole number of MiB, got '$big_mib'" >&2; exit 2 ;; esac

if [ -e "$dir" ]; then
  if [ ! -d "$dir" ] || [ -n "$(ls -A -- "$dir")" ]; then
    echo "$0: refusing to use '$dir': it exists and is not an empty directory" >&2
    exit 2
  fi
fi
mkdir -p -- "$dir"
dir="$(cd -- "$dir" && pwd)"

. "$(dirname "$0")/hermetic-git.sh"
hermetic_git Fixture author@gtfs.test 2024-01-02T03:04:05+0000

SUB_COMMIT=0123456789abcdef0123456789abcdef01234567

g () { git -C "$dir" -c core.autocrlf=false -c core.symlinks=true -c core.filemode=true \
  -c core.precomposeunicode=false -c core.quotepath=false -c gc.auto=0 \
  -c user.name="$GIT_AUTHOR_NAME" -c user.email="$GIT_AUTHOR_EMAIL" "$@"; }

git -c init.defaultBranch=main init -q -- "$dir"
g config core.autocrlf false
g config gc.auto 0

cd -- "$dir"

# ---- ordinary content (work tree + index) ----
printf '# gtfs fixture\n\nA deterministic repository for gtfs tests.\n' > README.md
: > EMPTY
mkdir -p empty && : > empty/a && : > empty/b

p=deep
for i in $(seq -w 1 20); do p="$p/d$i"; done
mkdir -p "$p"
printf 'leaf at depth 20\n' > "$p/leaf.txt"

# 5,000 files from one bash loop (no process per file). The shared lines make
# them good delta candidates, so the pack holds ofs-delta blobs.
mkdir -p many
for ((i = 0; i < 5000; i++)); do
  printf -v n '%04d' "$i"
  printf 'file %s of many/\nThis line is the same in every file so that git repack stores deltas.\nSo is this one: the quick brown fox jumps over the lazy dog.\nnumber %s\n' "$n" "$i" > "many/f$n.txt"
done

mkdir -p 'names/with space'
printf 'héllo wörld\n' > 'names/héllo wörld.txt'
printf '# 日本語\n\nにほんご\n' > 'names/日本語.md'
printf 'inner file\n' > 'names/with space/inner file'
printf 'rocket 🚀\n' > 'names/emoji-🚀.txt'

mkdir -p bin
printf '#!/bin/sh\necho "hello from gtfs"\n' > bin/run.sh
chmod 755 bin/run.sh

mkdir -p links
ln -s '../names/日本語.md' links/rel
ln -s /etc/hostname links/abs
ln -s does/not/exist links/dangling
ln -s ../deep/d01 links/dir

mkdir -p big
python3 - "$big_mib" > big/blob.bin <<'PY'
import hashlib, sys
mib = int(sys.argv[1])
out = sys.stdout.buffer
chunk = 64 * 1024
for i in range(mib * 1024 * 1024 // chunk):
    out.write(hashlib.shake_256(b'gtfs-fixture-%d' % i).digest(chunk // 2))
    line = b'chunk %08d of big/blob.bin: compressible filler text.\n' % i
    out.write((line * (chunk // 2 // len(line) + 1))[:chunk // 2])
PY

printf '[submodule "vendor/sub"]\n\tpath = vendor/sub\n\turl = https://example.invalid/sub.git\n' > .gitmodules

mkdir -p unsafe
printf 'the only safe entry in unsafe/\n' > unsafe/ok.txt

mkdir -p vendor/sub   # an empty directory where the submodule would be checked out
g add -A
g update-index --add --cacheinfo "160000,$SUB_COMMIT,vendor/sub"

# ---- the unsafe subtree, written byte by byte ----
blob () { printf '%s' "$1" | g hash-object -w --stdin; }
# tree_entry MODE NAME SHA: one raw tree entry on stdout ("MODE NAME\0" + 20 binary bytes)
tree_entry () { printf '%s %s\0' "$1" "$2"; printf "$(printf '%s' "$3" | sed 's/../\\x&/g')"; }
b_ok=$(g hash-object -w unsafe/ok.txt)
b_esc=$(blob $'escaped through ..\n')
b_cfg=$(blob $'[core]\n\tworktree = /tmp/pwned\n')
b_GIT=$(blob $'upper-case .GIT\n')
b_slash=$(blob $'name with a slash\n')
b_tilde=$(blob $'NTFS short name of .git\n')
t_dotdot=$(tree_entry 100644 escaped.txt "$b_esc" | g hash-object -w -t tree --literally --stdin)
t_dotgit=$(tree_entry 100644 config "$b_cfg" | g hash-object -w -t tree --literally --stdin)
# Entries in git's tree order (bytewise, a tree's name compared as "name/").
t_unsafe=$( {
  tree_entry 40000 '..' "$t_dotdot"
  tree_entry 100644 '.GIT' "$b_GIT"
  tree_entry 40000 '.git' "$t_dotgit"
  tree_entry 100644 'a/b' "$b_slash"
  tree_entry 100644 'git~1' "$b_tilde"
  tree_entry 100644 'ok.txt' "$b_ok"
} | g hash-object -w -t tree --literally --stdin)

# write-tree for the index, then swap in the unsafe subtree (mktree re-sorts;
# it does not look inside the subtree, so the bad names get through).
# Sets $safe_tree (the index as is: unsafe/ holds ok.txt only) and $top_tree.
trees_from_index () {
  safe_tree=$(g write-tree)
  top_tree=$( { g ls-tree -z "$safe_tree" | grep -zv $'\tunsafe$' || true
           printf '040000 tree %s\tunsafe\0' "$t_unsafe"; } | g mktree -z)
}
commit () { # TREE MESSAGE [PARENT] -> prints the commit id
  printf '%s\n' "$2" | g commit-tree "$1" ${3:+-p "$3"}
}

trees_from_index
c1=$(commit "$top_tree" 'fixture: first commit')
s1=$(commit "$safe_tree" 'fixture: first commit, unsafe names left out')
g update-ref refs/heads/main "$c1"
g update-ref refs/heads/old "$c1"
g update-ref refs/fixture/old-safe "$s1"
g symbolic-ref HEAD refs/heads/main
g tag -a v1 -m 'v1: the first fixture commit' "$c1"

# Pack everything (with deltas); what follows stays loose.
g repack -adq
g prune-packed

# ---- second commit: loose objects ----
export GIT_AUTHOR_DATE='2024-01-03T03:04:05+0000' GIT_COMMITTER_DATE='2024-01-03T03:04:05+0000'
printf '# gtfs fixture\n\nA deterministic repository for gtfs tests.\n\nChanged in the second commit.\n' > README.md
printf 'added after the repack, so stored as a loose object\n' > added-later.txt
g add README.md added-later.txt
trees_from_index
c2=$(commit "$top_tree" 'fixture: second commit (loose objects)' "$c1")
s2=$(commit "$safe_tree" 'fixture: second commit, unsafe names left out' "$s1")
g update-ref refs/heads/main "$c2" "$c1"
g update-ref refs/fixture/main-safe "$s2"

files=$(g ls-tree -r main | wc -l)
echo "fixture $dir: main=$c2 files=$files"
