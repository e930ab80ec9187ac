/**
 * The automount namespace as one TreeView: its root is a directory whose
 * entries appear when they are looked up. `/<name>/rest` is served by the view
 * that `lookup(name)` hands back (a repo, resolved on first access by the
 * caller), at `/rest`; `readdir('/')` lists the names resolved so far.
 *
 * Inode numbers: the root is 1. Each resolved repo has a slot (1, 2, ...), and
 * its view's inode numbers (32-bit, as fuse-native passes them) are mapped
 * through x ^ mix(slot), a bijection per slot: within one repo, two paths
 * collide exactly when they collide in a plain mount of it, and two repos'
 * roots never collide with each other or with the namespace root. Full
 * disjointness across repos cannot be had in 32 bits without taking bits from
 * the path hash; tools compare inodes only within a tree or for hard links.
 *
 * Why a lookup in the root waits only `rootWaitMs` for its repo: with libfuse 2
 * (no FUSE_PARALLEL_DIROPS) the kernel serializes lookups and readdir within
 * one directory, so a lookup of `/slow-repo` held for the whole resolution
 * would stall `ls /gtfs` and the first access to every other name. After
 * `rootWaitMs`, a name whose repo is still being resolved (`pending`) is
 * answered as a plain directory (the inode its root will have), and what is
 * below it waits for the repo, under the deadline of each operation; those
 * waits hold only that directory, not the root. A name that fails quickly is
 * ENOENT/EIO at once, as before.
 */
import { GtfsError } from '../errors.ts'
import type { AbortOptions, EntryAttr, FileHandle, TreeView } from '../types.ts'

export interface NamespaceEntry {
  view: TreeView
  /** 1, 2, ...: keeps this repo's inode numbers apart from the others' */
  slot: number
}

export interface NamespaceOptions {
  /** The view named `name`, resolved on first use; throws (ENOENT for names that are no repo). */
  lookup: (name: string, opts?: AbortOptions) => Promise<NamespaceEntry>
  /** The names currently resolved, as `ls` of the root shows them. */
  list: () => string[]
  /** mtime of the root directory */
  mtime: Date
  /** The slot of `name` while its repo is still being resolved; null when it is not (resolved, failed, or no repo). */
  pending?: (name: string) => Promise<number | null>
  /** how long a lookup in the root waits for a pending repo before answering with a placeholder directory, ms (default 1000) */
  rootWaitMs?: number
}

const S_IFDIR = 0o040000

function mapInode (slot: number, ino: number): number {
  const mixed = (ino ^ Math.imul(slot, 0x9e3779b1)) >>> 0
  return mixed < 2 ? mixed + 2 : mixed
}

export class NamespaceView implements TreeView {
  private readonly uid = process.getuid?.() ?? 0
  private readonly gid = process.getgid?.() ?? 0

  constructor (private readonly o: NamespaceOptions) {}

  /** Splits "/name/rest" into the entry of `name` and "/rest". */
  private async route (path: string, opts?: AbortOptions): Promise<{ entry: NamespaceEntry, inner: string }> {
    const slash = path.indexOf('/', 1)
    const name = slash < 0 ? path.slice(1) : path.slice(1, slash)
    const inner = slash < 0 ? '/' : path.slice(slash)
    return { entry: await this.o.lookup(name, opts), inner }
  }

  async stat (path: string, opts?: AbortOptions): Promise<EntryAttr> {
    if (path === '/') {
      return { kind: 'dir', mode: S_IFDIR | 0o755, size: 4096, ino: 1, nlink: 2 + this.o.list().length, uid: this.uid, gid: this.gid, rdev: 0, mtime: this.o.mtime }
    }
    if (path.indexOf('/', 1) < 0 && this.o.pending !== undefined) return await this.statName(path.slice(1), opts)
    const { entry, inner } = await this.route(path, opts)
    const attr = await entry.view.stat(inner, opts)
    return { ...attr, ino: mapInode(entry.slot, attr.ino) }
  }

  /** stat of `/name`: the repo's root, or a placeholder while it resolves past rootWaitMs (see the module comment). */
  private async statName (name: string, opts?: AbortOptions): Promise<EntryAttr> {
    const entry = this.o.lookup(name, opts)
    let timer: NodeJS.Timeout | undefined
    const waited = new Promise<null>(resolve => { timer = setTimeout(() => { resolve(null) }, this.o.rootWaitMs ?? 1000) })
    try {
      const first = await Promise.race([entry, waited])
      if (first === null) {
        const slot = await this.o.pending!(name)
        if (slot !== null) {
          entry.catch(() => {}) // whoever looks below it gets the outcome
          return { kind: 'dir', mode: S_IFDIR | 0o755, size: 4096, ino: mapInode(slot, 1), nlink: 2, uid: this.uid, gid: this.gid, rdev: 0, mtime: this.o.mtime }
        }
      }
      const e = first ?? await entry
      const attr = await e.view.stat('/', opts)
      return { ...attr, ino: mapInode(e.slot, attr.ino) }
    } finally {
      clearTimeout(timer)
    }
  }

  async readdir (path: string, opts?: AbortOptions): Promise<readonly string[]> {
    if (path === '/') return this.o.list()
    const { entry, inner } = await this.route(path, opts)
    return await entry.view.readdir(inner, opts)
  }

  async readlink (path: string, opts?: AbortOptions): Promise<string> {
    if (path === '/') throw new GtfsError('EINVAL', '/: not a symbolic link')
    const { entry, inner } = await this.route(path, opts)
    return await entry.view.readlink(inner, opts)
  }

  async open (path: string, opts?: AbortOptions): Promise<FileHandle> {
    if (path === '/') throw new GtfsError('EISDIR', '/: is a directory')
    const { entry, inner } = await this.route(path, opts)
    return await entry.view.open(inner, opts)
  }

  async listxattr (path: string, opts?: AbortOptions): Promise<string[]> {
    if (path === '/') return []
    const { entry, inner } = await this.route(path, opts)
    return await entry.view.listxattr(inner, opts)
  }

  async getxattr (path: string, name: string, opts?: AbortOptions): Promise<Buffer> {
    if (path === '/') throw new GtfsError('ENOATTR', `/: no attribute ${name}`)
    const { entry, inner } = await this.route(path, opts)
    return await entry.view.getxattr(inner, name, opts)
  }
}
