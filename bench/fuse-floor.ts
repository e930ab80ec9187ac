/**
 * The floor under every FUSE figure: a trivial fuse-native filesystem that
 * answers from memory with no store behind it, mounted with the same options as
 * gtfs, over a tree of the same shape (names, sizes) with zero-filled content.
 * What gtfs costs on top of this is ours; this much is the FUSE transport's,
 * the same one gtfs mounts through (src/fs/mount.ts mountOps: its own session
 * on /dev/fuse as root, else fuse-native + libfuse 2).
 */
import type { FuseOps } from 'fuse-native'
import { spawn } from 'node:child_process'
import { constants } from 'node:os'
import { kernelOpensAlone } from '../src/fs/fuse-ops.ts'
import { mountOps } from '../src/fs/mount.ts'

interface Node { dir: boolean, size: number, ino: number, children?: string[] }

export async function listTree (repo: string): Promise<Map<string, Node>> {
  const out = await new Promise<string>((resolve, reject) => {
    const c = spawn('git', ['-C', repo, 'ls-tree', '-r', '-t', '-l', 'main'], { stdio: ['ignore', 'pipe', 'inherit'] })
    let s = ''
    c.stdout.on('data', (d: Buffer) => { s += d.toString() })
    c.on('close', code => { code === 0 ? resolve(s) : reject(new Error('git ls-tree failed')) })
  })
  const nodes = new Map<string, Node>([['/', { dir: true, size: 4096, ino: 1, children: [] }]])
  for (const line of out.trim().split('\n')) {
    const [meta, path] = line.split('\t')
    const [, type, , size] = meta.split(/\s+/)
    const p = '/' + path
    const dir = type === 'tree'
    nodes.set(p, { dir, size: dir ? 4096 : Number(size), ino: nodes.size + 1, children: dir ? [] : undefined })
    const parent = p.slice(0, p.lastIndexOf('/')) || '/'
    nodes.get(parent)!.children!.push(p.slice(p.lastIndexOf('/') + 1))
  }
  return nodes
}

export async function mountFloor (nodes: Map<string, Node>, dir: string): Promise<() => Promise<void>> {
  const openAnswer = kernelOpensAlone() ? -constants.errno.ENOSYS : 0
  const now = new Date()
  const ops: FuseOps = {
    getattr: (p, cb) => {
      const n = nodes.get(p)
      if (n === undefined) { cb(-2); return }
      cb(0, { mode: n.dir ? 0o40755 : 0o100644, uid: 0, gid: 0, size: n.size, nlink: n.dir ? 2 : 1, ino: n.ino, atime: now, mtime: now, ctime: now })
    },
    readdir: (p, cb) => { cb(0, ['.', '..', ...(nodes.get(p)?.children ?? [])]) },
    // as gtfs answers a mount whose paths keep their content (fuse-ops.ts
    // zeroMessageOpens): the kernel opens and closes files without a message
    open: (_p, _f, cb) => { cb(openAnswer, 0) },
    read: (p, _fd, buf, len, pos, cb) => {
      const size = nodes.get(p)?.size ?? 0
      const n = Math.max(0, Math.min(len, size - pos))
      buf.fill(0, 0, n)
      cb(n)
    },
  }
  const mounted = await mountOps(ops, dir, { label: 'gtfs-floor', cacheSeconds: 86400 })
  return async () => { await mounted.unmount() }
}
