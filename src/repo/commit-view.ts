/**
 * A read-only TreeView of one commit's tree, served from an object source.
 * Directory listings and attributes need tree objects and blob headers only,
 * never whole blobs; blobs are read when a file is opened.
 *
 * Inode numbers are a 32-bit hash of the path (fuse-native passes st_ino as 32
 * bits): stable across remounts of the same view. Collisions are possible in
 * very large trees; tools only compare inodes of files with nlink > 1.
 */
import { LRUCache } from 'lru-cache'
import { GtfsError, IntegrityError, NotFoundError } from '../errors.ts'
import { parseCommit, parseTagTarget } from '../git/commit.ts'
import { parseTree, type TreeEntry, type TreeEntryKind } from '../git/tree.ts'
import { logger, warn } from '../log.ts'
import type { BlobContent } from '../store/object-store.ts'
import type { AbortOptions, EntryAttr, FileHandle, GitObject, ObjectId, TreeView } from '../types.ts'

const log = logger('gtfs:repo:commit-view')

/** What a view needs of a store: the local one, or later one that fetches on miss. */
export interface ViewSource {
  read (id: ObjectId, opts?: AbortOptions): Promise<GitObject>
  size (id: ObjectId, opts?: AbortOptions): Promise<number>
  openBlob (id: ObjectId, opts?: AbortOptions): Promise<BlobContent>
}

interface Dir {
  entries: Map<string, TreeEntry>
  names: string[]
  subdirs: number
}

type Node = { kind: 'dir', id: ObjectId, nlink: number } | (TreeEntry & { kind: Exclude<TreeEntryKind, 'dir'> })

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000

export function pathInode (path: string): number {
  if (path === '/') return 1
  let h = 0x811c9dc5 // FNV-1a
  for (let i = 0; i < path.length; i++) {
    h ^= path.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h < 2 ? h + 2 : h
}

function notFound (path: string): NotFoundError {
  return new NotFoundError(`${path}: no such file or directory`)
}

/** Peels tags until a commit; returns the commit id. */
export async function peelToCommit (source: ViewSource, id: ObjectId): Promise<ObjectId> {
  for (let i = 0; i < 16; i++) {
    const obj = await source.read(id)
    if (obj.type === 'commit') return id
    if (obj.type !== 'tag') throw new GtfsError('ENOTCOMMIT', `${id} is a ${obj.type}, not a commit`, { hint: 'pass a commit, or a ref or tag that points at one' })
    id = parseTagTarget(obj.data, id).object
  }
  throw new IntegrityError(`${id}: tag chain too long`, { code: 'EMALFORMED' })
}

export class CommitView implements TreeView {
  private readonly dirs = new LRUCache<ObjectId, Dir>({ maxSize: 64 * 2 ** 20, sizeCalculation: d => 64 + d.names.length * 96 })
  private readonly nodes = new LRUCache<string, Node>({ max: 262_144 })
  private readonly warned = new Set<ObjectId>()
  readonly mtime: Date
  private readonly uid = process.getuid?.() ?? 0
  private readonly gid = process.getgid?.() ?? 0

  private constructor (
    private readonly source: ViewSource,
    readonly commit: ObjectId,
    readonly rootTree: ObjectId,
    committerTime: number
  ) {
    this.mtime = new Date(committerTime * 1000)
  }

  static async open (source: ViewSource, commitish: ObjectId): Promise<CommitView> {
    const commit = await peelToCommit(source, commitish)
    const parsed = parseCommit((await source.read(commit)).data, commit)
    const view = new CommitView(source, commit, parsed.tree, parsed.committerTime)
    await view.dir(parsed.tree) // the root must be readable before we say we are mounted
    return view
  }

  async stat (path: string, opts?: AbortOptions): Promise<EntryAttr> {
    const node = await this.resolve(path, opts)
    const base = { ino: pathInode(path), uid: this.uid, gid: this.gid, rdev: 0, mtime: this.mtime }
    switch (node.kind) {
      case 'dir':
        return { ...base, kind: 'dir', mode: S_IFDIR | 0o755, size: 4096, nlink: node.nlink }
      case 'gitlink':
        // A submodule: an empty directory, as `git archive` and a checkout without the submodule show it.
        return { ...base, kind: 'gitlink', mode: S_IFDIR | 0o755, size: 0, nlink: 2 }
      case 'symlink':
      case 'file':
      case 'exec': {
        const size = await this.source.size(node.id, opts)
        if (node.kind === 'symlink') return { ...base, kind: 'symlink', mode: S_IFLNK | 0o777, size, nlink: 1 }
        return { ...base, kind: 'file', mode: S_IFREG | (node.kind === 'exec' ? 0o755 : 0o644), size, nlink: 1 }
      }
    }
  }

  async readdir (path: string, opts?: AbortOptions): Promise<string[]> {
    const node = await this.resolve(path, opts)
    if (node.kind === 'gitlink') return []
    if (node.kind !== 'dir') throw new GtfsError('ENOTDIR', `${path}: not a directory`)
    return (await this.dir(node.id, opts)).names
  }

  async readlink (path: string, opts?: AbortOptions): Promise<string> {
    const node = await this.resolve(path, opts)
    if (node.kind !== 'symlink') throw new GtfsError('EINVAL', `${path}: not a symbolic link`)
    return (await this.source.read(node.id, opts)).data.toString('utf8')
  }

  async open (path: string, opts?: AbortOptions): Promise<FileHandle> {
    const node = await this.resolve(path, opts)
    if (node.kind === 'dir' || node.kind === 'gitlink') throw new GtfsError('EISDIR', `${path}: is a directory`)
    return contentHandle(await this.source.openBlob(node.id, opts))
  }

  async listxattr (path: string, opts?: AbortOptions): Promise<string[]> {
    await this.resolve(path, opts)
    return []
  }

  async getxattr (path: string, name: string, opts?: AbortOptions): Promise<Buffer> {
    await this.resolve(path, opts)
    throw new NotFoundError(`${path}: no attribute ${name}`, { code: 'ENOATTR' })
  }

  /** The tree entry at `path`; "/" is the root. Throws NotFoundError. */
  private async resolve (path: string, opts?: AbortOptions): Promise<Node> {
    const hit = this.nodes.get(path)
    if (hit !== undefined) return hit
    if (path === '/') {
      const root: Node = { kind: 'dir', id: this.rootTree, nlink: 2 + (await this.dir(this.rootTree, opts)).subdirs }
      this.nodes.set(path, root)
      return root
    }
    const slash = path.lastIndexOf('/')
    if (slash < 0 || path.endsWith('/')) throw notFound(path)
    const parent = await this.resolve(slash === 0 ? '/' : path.slice(0, slash), opts)
    if (parent.kind !== 'dir') throw parent.kind === 'gitlink' ? notFound(path) : new GtfsError('ENOTDIR', `${path}: a parent is not a directory`)
    const entry = (await this.dir(parent.id, opts)).entries.get(path.slice(slash + 1))
    if (entry === undefined) throw notFound(path)
    const node: Node = entry.kind === 'dir'
      ? { kind: 'dir', id: entry.id, nlink: 2 + (await this.dir(entry.id, opts)).subdirs }
      : entry as Node
    this.nodes.set(path, node)
    return node
  }

  private async dir (id: ObjectId, opts?: AbortOptions): Promise<Dir> {
    const hit = this.dirs.get(id)
    if (hit !== undefined) return hit
    const obj = await this.source.read(id, opts)
    if (obj.type !== 'tree') throw new IntegrityError(`${id} is a ${obj.type}, expected a tree`, { code: 'EWRONGTYPE' })
    const parsed = parseTree(obj.data, id)
    if (parsed.rejected.length > 0 && !this.warned.has(id)) {
      this.warned.add(id)
      warn(`tree ${id}: hiding ${parsed.rejected.length} unsafe entr${parsed.rejected.length === 1 ? 'y' : 'ies'}: ` +
        parsed.rejected.map(r => `"${r.name}" (${r.reason})`).join(', '))
    }
    const entries = new Map<string, TreeEntry>()
    let subdirs = 0
    for (const e of parsed.entries) {
      // A duplicate name is a malformed tree (fsck: duplicateEntries); the first one wins.
      if (entries.has(e.name)) continue
      entries.set(e.name, e)
      if (e.kind === 'dir' || e.kind === 'gitlink') subdirs++
    }
    const dir: Dir = { entries, names: [...entries.keys()], subdirs }
    this.dirs.set(id, dir)
    log('tree %s: %d entries', id, dir.names.length)
    return dir
  }
}

function contentHandle (content: BlobContent): FileHandle {
  if (content.kind === 'buffer') {
    const data = content.data
    return {
      size: data.length,
      async read (buf, length, position) {
        if (position >= data.length) return 0
        return data.copy(buf, 0, position, Math.min(data.length, position + length))
      },
      async close () {}
    }
  }
  const { blob, release } = content
  let closed = false
  return {
    size: blob.size,
    async read (buf, length, position) { return await blob.read(buf, length, position) },
    async close () {
      if (closed) return
      closed = true
      await release()
    }
  }
}
