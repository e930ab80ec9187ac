#!/usr/bin/env bash
# Installs what gtfs needs on a fresh Debian machine with Node 20, when it is
# missing: the Debian packages named below, the npm dependencies (npm ci), and
# the compiled dist/. Safe to run again: it does nothing when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -e /usr/lib/x86_64-linux-gnu/libfuse.so.2 ] || [ -e /lib/x86_64-linux-gnu/libfuse.so.2 ] || \
  [ -e /usr/lib/aarch64-linux-gnu/libfuse.so.2 ] || need+=(libfuse2)
command -v fusermount >/dev/null 2>&1 || need+=(fuse)
command -v git >/dev/null 2>&1 || need+=(git)
command -v gpg >/dev/null 2>&1 || need+=(gnupg)
# the tests call python3 (setxattr, which Node lacks) and tar
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v tar >/dev/null 2>&1 || need+=(tar)
# getfattr/setfattr: gtfs publish --rootfs captures extended attributes with getfattr
command -v getfattr >/dev/null 2>&1 || need+=(attr)
# a static busybox: the demo's and the tests' root filesystem (a dynamic one,
# from Debian's busybox package, would find no libc inside a chroot)
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || need+=(busybox-static)
# setcap: the root-filesystem tests capture a security.capability xattr
command -v setcap >/dev/null 2>&1 || need+=(libcap2-bin)
# perl: registers backing files for FUSE passthrough (src/fs/backing-files.ts;
# perl-base is Essential in Debian, but a trimmed image may lack it)
command -v perl >/dev/null 2>&1 || need+=(perl-base)
# zsh: the shell-hook test runs the zsh hook too
command -v zsh >/dev/null 2>&1 || need+=(zsh)

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "setup: run as root, or install: apt-get install ${need[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -e /dev/fuse ]; then
  modprobe fuse 2>/dev/null || true
  [ -e /dev/fuse ] || echo "setup: warning: /dev/fuse is missing; mounts will fail (gtfs doctor says more)" >&2
fi

# npm ci when node_modules is missing or older than the lockfile. Never through a
# symlink (a git worktree sharing another checkout's node_modules): npm ci would
# empty the shared directory under every checkout that uses it.
if [ -L node_modules ]; then
  [ -d node_modules/.bin ] || echo "setup: warning: node_modules is a symlink to an empty or missing directory; run npm ci where it points" >&2
elif [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

# Compile to dist/ (bin/load.mjs runs it while it is newer than every source;
# an edit after this falls back to the sources through tsx).
echo "setup: npm run build"
npm run --silent build
