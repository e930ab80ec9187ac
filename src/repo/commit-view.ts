/**
 * A read-only TreeView of one commit's tree, served from an object source.
 * Directory listings and attributes need tree objects and blob headers only,
 * never whole blobs; blobs are read when a file is opened.
 *
 * Inode numbers are a 32-bit hash of the path (fuse-native passes st_ino as 32
 * bits): stable across remounts of the same view. Collisions are possible in
 * very large trees; tools only compare inodes of files with nlink > 1.
 *
 * With a catalog (src/git/catalog.ts, already checked against the signed
 * manifest by the caller) the view takes size, mode, uid, gid, mtime, rdev and
 * xattrs from it, so `stat` needs no blob header; the paths of one hard-link
 * group share the inode number of their first path and show the group's size
 * as nlink. Catalog entries git cannot hold (empty directories, device nodes,
 * fifos, sockets) are added to their directory; a catalog file or symlink
 * without a tree entry has no content and stays invisible. Where tree and
 * catalog disagree on a path's type, or on a file's size when it is opened,
 * the path fails with ECATALOG (EIO through FUSE) rather than show either.
 */
import { LRUCache } from 'lru-cache'
import { GtfsError, IntegrityError, NotFoundError } from '../errors.ts'
import { catalogChildren, makeDev, type Catalog, type CatalogEntry, type ChunkHashes } from '../git/catalog.ts'
import { parseCommit, parseTagTarget } from '../git/commit.ts'
import { parseTree, type TreeEntry, type TreeEntryKind } from '../git/tree.ts'
import { logger, warn } from '../log.ts'
import type { BlobContent } from '../store/object-store.ts'
import type { AbortOptions, EntryAttr, EntryKind, FileHandle, GitObject, ObjectId, TreeView } from '../types.ts'

const log = logger('gtfs:repo:commit-view')

/** What a view needs of a store: the local one, or later one that fetches on miss. */
export interface ViewSource {
  read (id: ObjectId, opts?: AbortOptions): Promise<GitObject>
  size (id: ObjectId, opts?: AbortOptions): Promise<number>
  openBlob (id: ObjectId, opts?: AbortOptions): Promise<BlobContent>
  /** openBlob at once for a blob held in memory; null means: ask openBlob */
  openBlobNow?: (id: ObjectId) => BlobContent | null
  /** the size of an object held in memory, at once; null means: ask size */
  sizeNow?: (id: ObjectId) => number | null
  /** a hint: these blobs are likely to be opened soon (a source that fetches may start now) */
  prefetch?: (ids: ObjectId[]) => void
  /**
   * the size the signed catalog gives a blob: a source that fetches bounds what
   * a peer may send for it by this (a peer announcing another size is refused,
   * EBADSIZE), instead of by the protocol's cap
   */
  expectSize?: (id: ObjectId, size: number) => void
  /** the signed catalog's chunk hashes, for a blob about to be opened (a source that fetches reads it in chunks) */
  expectChunks?: (id: ObjectId, chunks: ChunkHashes) => void
}

/** siblings hinted at most per open */
const PREFETCH_SIBLINGS = 256
/**
 * With a catalog (sizes known): only siblings up to this size are hinted, and
 * at most this many bytes of them per directory. A program's directory holds
 * big neighbours it will never open (/usr/bin, /usr/lib/<triplet>): fetching
 * them all on the first exec had a Debian chroot fetch 27% of the root instead
 * of the 7% it opens.
 */
const PREFETCH_SIBLING_MAX_BYTES = 64 * 1024
const PREFETCH_BUDGET_BYTES = 1024 * 1024
/** directories hinted at most ahead of a sequential walk */
const READAHEAD_MAX_DIRS = 64
/** a directory opened this close (in walk order) to the last one counts as the walk going on */
const READAHEAD_NEAR = 8
/** directories a view orders for readahead at most (beyond, no readahead) */
const READAHEAD_MAX_ORDER = 200_000

/**
 * Readahead across directories. The first file opened in each directory is
 * placed in the tree's depth-first order (the order `find`, `cp -r`, `tar`,
 * a build's walk visit directories). Two such opens in a row near each other,
 * or one in a directory that readahead already hinted, make the walk
 * sequential: the files of the next directories in that order are hinted,
 * the window doubling (4, 8, … READAHEAD_MAX_DIRS directories) while the walk
 * keeps hitting it, and closing at the first open elsewhere. Random opens
 * cost nothing beyond their siblings.
 */
interface Readahead {
  order: Promise<Array<{ path: string, id: ObjectId }>> | null
  index: Map<string, number>
  opened: Set<string>
  ahead: Set<string>
  last: number
  until: number
  window: number
  streak: number
}

interface Dir {
  entries: Map<string, TreeEntry>
  names: string[]
  subdirs: number
}

/** A path of the view: a tree entry, or (id null / 'special') an entry that only the catalog holds. */
type Node =
  | { kind: 'dir', id: ObjectId | null, nlink: number }
  | (TreeEntry & { kind: Exclude<TreeEntryKind, 'dir'> })
  | { kind: 'special', type: SpecialKind }

type SpecialKind = 'chardev' | 'blockdev' | 'fifo' | 'socket'
const SPECIAL = new Set<string>(['chardev', 'blockdev', 'fifo', 'socket'])

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000
const S_IFTYPE: Record<SpecialKind, number> = { chardev: 0o020000, blockdev: 0o060000, fifo: 0o010000, socket: 0o140000 }

export interface CommitViewOptions {
  /** decoded catalog of this commit (its hash already checked against the manifest) */
  catalog?: Catalog
}

/** What the view needs of a catalog: entries, children per directory, hard-link groups. */
interface CatalogIndex {
  entries: ReadonlyMap<string, CatalogEntry>
  children: Map<string, string[]>
  /** group id → first path (its inode) and number of paths */
  links: Map<number, { first: string, count: number }>
}

function indexCatalog (catalog: Catalog): CatalogIndex {
  // A sizes catalog lists files and symlinks only: no catalog-only children
  // (directories, device nodes) and no hard links. Indexing its 50,000 paths
  // for none cost a mount ~50 ms.
  if (!catalog.rootfs) return { entries: catalog.entries, children: new Map(), links: new Map() }
  const links = new Map<number, { first: string, count: number }>()
  const linked: Array<[string, number]> = []
  for (const [path, e] of catalog.entries) if (e.link !== undefined) linked.push([path, e.link])
  for (const [path, link] of linked.sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) {
    const g = links.get(link)
    if (g === undefined) links.set(link, { first: path, count: 1 })
    else g.count++
  }
  return { entries: catalog.entries, children: catalogChildren(catalog), links }
}

function catalogError (path: string, why: string): IntegrityError {
  return new IntegrityError(`${path}: ${why}`, { code: 'ECATALOG', hint: 'the published catalog does not match the commit; ask the publisher to publish again' })
}

function childPath (dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`
}

export function pathInode (path: string): number {
  if (path === '/') return 1
  let h = 0x811c9dc5 // FNV-1a
  for (let i = 0; i < path.length; i++) {
    h ^= path.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h < 2 ? h + 2 : h
}

/**
 * A path the tree does not have: ENOENT. (A git object that cannot be had is
 * another matter, ENOTFOUND from the store or the swarm, and reaches the
 * reader as EIO: the file exists, its bytes are not to be had.)
 */
function notFound (path: string): NotFoundError {
  return new NotFoundError(`${path}: no such file or directory`, { code: 'ENOENT' })
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
  // Bounded by bytes (maxSize), not `max`, which would allocate every slot up
  // front (7 MiB a view for 262,144). Heap per entry, measured with
  // lru-cache 10 on node 20 (heap used after a full GC): a parsed directory
  // 143 bytes a name (the wide tree's 2,501 trees); a node 84 bytes of slot
  // plus its path (87 bytes for a 26-character path as FUSE hands it over;
  // the value is the directory's own entry); an attribute 181 plus its path.
  // Counted before at 96 bytes a name and one slot an entry (262,144 nodes,
  // 65,536 attributes), these could grow to 95 + 45 + 18 MB; the wide tree
  // alone would keep about 9 MB of nodes and 14 MB of attributes.
  private readonly dirs = new LRUCache<ObjectId, Dir>({ maxSize: 64 * 2 ** 20, sizeCalculation: d => 64 + d.names.length * 144 })
  private readonly nodes = new LRUCache<string, Node>({ maxSize: 16 * 2 ** 20, sizeCalculation: () => 170 })
  /**
   * Attributes already answered, for the kernel's asking again when its own
   * copy times out (rare: attributes are cached there for a long time); any
   * other is rebuilt from its node and the catalog in microseconds.
   */
  private readonly attrs = new LRUCache<string, EntryAttr>({ maxSize: 4 * 2 ** 20, sizeCalculation: () => 270 })
  private readonly warned = new Set<ObjectId>()
  readonly mtime: Date
  private readonly uid = process.getuid?.() ?? 0
  private readonly gid = process.getgid?.() ?? 0
  private readonly catalog: CatalogIndex | null
  private readonly chunks: ChunkHashes | undefined

  private constructor (
    private readonly source: ViewSource,
    readonly commit: ObjectId,
    readonly rootTree: ObjectId,
    committerTime: number,
    catalog: Catalog | undefined
  ) {
    this.mtime = new Date(committerTime * 1000)
    this.catalog = catalog === undefined ? null : indexCatalog(catalog)
    this.chunks = catalog?.chunks
  }

  /**
   * A view of `commitish` (a commit or a tag that peels to one). With
   * `opts.catalog`, metadata comes from the catalog (see the module comment);
   * a catalog made for another tree is refused with ECATALOG.
   */
  static async open (source: ViewSource, commitish: ObjectId, opts: CommitViewOptions = {}): Promise<CommitView> {
    const commit = await peelToCommit(source, commitish)
    const parsed = parseCommit((await source.read(commit)).data, commit)
    if (opts.catalog !== undefined && opts.catalog.tree !== parsed.tree) {
      throw catalogError('/', `the catalog describes tree ${opts.catalog.tree}, but commit ${commit} has tree ${parsed.tree}`)
    }
    const view = new CommitView(source, commit, parsed.tree, parsed.committerTime, opts.catalog)
    await view.dir(parsed.tree) // the root must be readable before we say we are mounted
    return view
  }

  /** The blobs of the files among `paths` (in that order); paths that are not files are left out. */
  async fileIds (paths: readonly string[], opts?: AbortOptions): Promise<ObjectId[]> {
    const ids: ObjectId[] = []
    for (const path of paths) {
      const node = await this.resolve(path, opts).catch(() => null)
      if (node !== null && (node.kind === 'file' || node.kind === 'exec')) ids.push(node.id)
    }
    return ids
  }

  /** True when the view serves metadata from a catalog. */
  get hasCatalog (): boolean {
    return this.catalog !== null
  }

  /**
   * The attributes at once when nothing needs an await: a path of a listed
   * directory whose size is in the catalog, in memory, or in a cached pack
   * block (GitObjectStore.sizeNow). A first pass over small files then
   * answers most lookups without a promise.
   */
  statNow (path: string): EntryAttr | undefined {
    const known = this.attrs.get(path)
    if (known !== undefined) return known
    const node = this.leafNow(path)
    if (node === undefined) return undefined
    let size = 0
    if (hasBlob(node)) {
      const s = this.catalog?.entries.get(path)?.size ?? this.source.sizeNow?.(node.id) ?? null
      if (s === null) return undefined
      size = s
    }
    const attr = this.attrFor(path, node, size)
    this.attrs.set(path, attr)
    return attr
  }

  async stat (path: string, opts?: AbortOptions): Promise<EntryAttr> {
    const known = this.attrs.get(path)
    if (known !== undefined) return known
    const attr = await this.attrOf(path, opts)
    this.attrs.set(path, attr)
    return attr
  }

  private async attrOf (path: string, opts?: AbortOptions): Promise<EntryAttr> {
    const node = this.nodes.get(path) ?? await this.resolve(path, opts)
    return this.attrFor(path, node, hasBlob(node) ? this.catalog?.entries.get(path)?.size ?? await this.source.size(node.id, opts) : 0)
  }

  /** `size` is the blob's for files and symlinks, unused otherwise. */
  private attrFor (path: string, node: Node, size: number): EntryAttr {
    const e = this.catalog?.entries.get(path)
    const group = e?.link === undefined ? undefined : this.catalog?.links.get(e.link)
    // One literal, all fields in one order: built by spreading a shared base,
    // each of 50,000 cached attributes had a hidden class of its own (20 MiB of
    // V8 maps and descriptor arrays, seen in a heap snapshot).
    const ino = pathInode(group?.first ?? path)
    const uid = e?.uid ?? this.uid
    const gid = e?.gid ?? this.gid
    const mtime = e?.mtime === undefined ? this.mtime : new Date(e.mtime * 1000)
    const attr = (kind: EntryKind, mode: number, size: number, nlink: number, rdev = 0): EntryAttr => ({ kind, mode, size, ino, nlink, uid, gid, rdev, mtime })
    const nlink = group?.count ?? 1
    switch (node.kind) {
      case 'dir':
        return attr('dir', S_IFDIR | (e?.mode ?? 0o755), 4096, node.nlink)
      case 'gitlink':
        // A submodule: an empty directory, as `git archive` and a checkout without the submodule show it.
        return attr('gitlink', S_IFDIR | (e?.mode ?? 0o755), 0, 2)
      case 'special':
        return attr(node.type, S_IFTYPE[node.type] | (e?.mode ?? 0o644), 0, nlink, e?.rdev === undefined ? 0 : makeDev(e.rdev[0], e.rdev[1]))
      case 'symlink':
        return attr('symlink', S_IFLNK | (e?.mode ?? 0o777), size, nlink)
      case 'file':
      case 'exec':
        return attr('file', S_IFREG | (e?.mode ?? (node.kind === 'exec' ? 0o755 : 0o644)), size, nlink)
    }
  }

  async readdir (path: string, opts?: AbortOptions): Promise<readonly string[]> {
    const node = await this.resolve(path, opts)
    if (node.kind === 'gitlink') return []
    if (node.kind !== 'dir') throw new GtfsError('ENOTDIR', `${path}: not a directory`)
    const dir = node.id === null ? null : await this.dir(node.id, opts)
    const extras = this.catalogOnlyChildren(path, dir)
    if (dir === null) return extras.map(c => c.name)
    return extras.length === 0 ? dir.names : [...dir.names, ...extras.map(c => c.name)]
  }

  async readlink (path: string, opts?: AbortOptions): Promise<string> {
    const node = await this.resolve(path, opts)
    if (node.kind !== 'symlink') throw new GtfsError('EINVAL', `${path}: not a symbolic link`)
    return (await this.source.read(node.id, opts)).data.toString('utf8')
  }

  async open (path: string, opts?: AbortOptions): Promise<FileHandle> {
    const node = this.nodes.get(path) ?? await this.resolve(path, opts)
    if (node.kind === 'dir' || node.kind === 'gitlink') throw new GtfsError('EISDIR', `${path}: is a directory`)
    // Device nodes and fifos are opened by the kernel itself; gtfs has no bytes for them.
    if (node.kind === 'special') throw new GtfsError('EINVAL', `${path}: a ${node.type} has no content in gtfs`)
    if (this.source.prefetch !== undefined && !this.hintedNow(path)) {
      await this.hintSiblings(path, node.id, opts)
      this.walkOn(path)
    }
    if (this.chunks?.hashes.has(node.id) === true) this.source.expectChunks?.(node.id, this.chunks)
    const handle = contentHandle(await this.source.openBlob(node.id, opts))
    const want = this.catalog?.entries.get(path)?.size
    if (want !== undefined && want !== handle.size) {
      await handle.close()
      throw catalogError(path, `the catalog says ${want} bytes, the blob has ${handle.size}`)
    }
    return handle
  }

  /**
   * `open` at once, for a file whose content is in memory (warmed since its
   * directory was hinted, or cached) and whose directory needs no hint:
   * a first pass over small files opens most of them this way, with no
   * promise and no deadline. Anything else, errors included, is `open`'s.
   */
  openNow (path: string): FileHandle | undefined {
    const node = this.leafNow(path)
    if (node === undefined || !hasBlob(node)) return undefined
    if (this.chunks?.hashes.has(node.id) === true) return undefined
    if (this.source.prefetch !== undefined && !this.hintedNow(path)) return undefined
    const content = this.source.openBlobNow?.(node.id) ?? null
    if (content === null) return undefined
    const handle = contentHandle(content)
    const want = this.catalog?.entries.get(path)?.size
    // A blob that disagrees with the catalog: `open` reads it again and says so.
    return want === undefined || want === handle.size ? handle : undefined
  }

  /**
   * True when the directory of `path` was hinted already (most opens: then
   * they cost no await, ~1 s of the main thread's time in microtasks over the
   * 50,000 opens of the bench's small-read), and then a step of a walk.
   */
  private hintedNow (path: string): boolean {
    const slash = path.lastIndexOf('/')
    const parent = this.nodes.get(slash <= 0 ? '/' : path.slice(0, slash))
    if (parent === undefined || parent.kind !== 'dir' || parent.id === null || !this.hinted.has(parent.id)) return false
    this.walkOn(path)
    return true
  }

  /** An open of `path` is a step of a walk: see Readahead. */
  private walkOn (path: string): void {
    const slash = path.lastIndexOf('/')
    const dir = slash <= 0 ? '/' : path.slice(0, slash)
    if (!this.walk.opened.has(dir)) void this.readahead(dir).catch((err: Error) => { log('readahead: %s', err.message) })
  }

  /**
   * A file opened in a directory makes its siblings likely next (a build, a
   * program loading its modules, `cat *`): hint the source, which may fetch them
   * in one batch, beside the file itself. Only files that were hinted once.
   */
  private async hintSiblings (path: string, id: ObjectId, opts?: AbortOptions): Promise<void> {
    const slash = path.lastIndexOf('/')
    const parent = await this.resolve(slash <= 0 ? '/' : path.slice(0, slash), opts)
    if (parent.kind !== 'dir' || parent.id === null || this.hinted.has(parent.id)) return
    this.hinted.add(parent.id)
    // The file itself is fetched by its own open, in a request of its own, so
    // that its first byte does not wait for its siblings'.
    const ids: ObjectId[] = []
    const dirPath = slash <= 0 ? '' : path.slice(0, slash)
    let budget = PREFETCH_BUDGET_BYTES
    for (const [name, e] of (await this.dir(parent.id, opts)).entries) {
      if (ids.length >= PREFETCH_SIBLINGS) break
      if ((e.kind !== 'file' && e.kind !== 'exec') || e.id === id) continue
      const size = this.catalog?.entries.get(`${dirPath}/${name}`)?.size
      if (size !== undefined) {
        if (size > PREFETCH_SIBLING_MAX_BYTES || size > budget) continue
        budget -= size
        this.source.expectSize?.(e.id, size)
      }
      ids.push(e.id)
    }
    if (ids.length > 0) this.source.prefetch?.(ids)
  }

  private readonly hinted = new Set<ObjectId>()
  private readonly walk: Readahead = { order: null, index: new Map(), opened: new Set(), ahead: new Set(), last: -1, until: -1, window: 0, streak: 0 }

  /** See Readahead. Runs beside the open that called it; never fails a caller. */
  private async readahead (dir: string): Promise<void> {
    const w = this.walk
    if (w.opened.has(dir)) return
    w.opened.add(dir)
    // One directory says nothing of a walk. The order (every tree of the commit
    // parsed: 60 ms of a mount's first read of one file in a 2,500-directory
    // tree, beside that read) waits for a second, which is judged against it.
    if (w.opened.size < 2) return
    if (w.order === null) {
      const [first] = w.opened
      w.order = this.dirOrder().then(order => { w.last = w.index.get(first) ?? -1; return order })
    }
    const order = await w.order
    const i = w.index.get(dir)
    if (i === undefined) return
    const near = w.ahead.has(dir) || (w.last >= 0 && Math.abs(i - w.last) <= READAHEAD_NEAR)
    w.last = i
    if (!near) { w.streak = 0; w.window = 0; return }
    if (++w.streak < 2) return
    w.window = Math.min(READAHEAD_MAX_DIRS, Math.max(4, w.window * 2))
    const to = Math.min(order.length - 1, i + w.window)
    const ids: ObjectId[] = []
    for (let k = Math.max(w.until + 1, i + 1); k <= to; k++) {
      const d = order[k]
      w.ahead.add(d.path)
      if (this.hinted.has(d.id)) continue
      this.hinted.add(d.id)
      for (const [name, e] of (await this.dir(d.id)).entries) {
        if (e.kind !== 'file' && e.kind !== 'exec') continue
        // As for siblings: a file the catalog says is big is fetched when opened, not on a guess.
        const size = this.catalog?.entries.get(childPath(d.path, name))?.size
        if (size !== undefined && size > PREFETCH_SIBLING_MAX_BYTES) continue
        // the source bounds what a peer may send by it, and counts a peer's backlog in it
        if (size !== undefined) this.source.expectSize?.(e.id, size)
        ids.push(e.id)
      }
    }
    w.until = Math.max(w.until, to)
    if (ids.length > 0) this.source.prefetch?.(ids)
  }

  /** Directories in depth-first tree order (what a recursive walk visits), with their index. */
  private async dirOrder (): Promise<Array<{ path: string, id: ObjectId }>> {
    const out: Array<{ path: string, id: ObjectId }> = []
    const visit = async (path: string, id: ObjectId): Promise<void> => {
      if (out.length >= READAHEAD_MAX_ORDER) return
      this.walk.index.set(path, out.length)
      out.push({ path, id })
      const d = await this.dir(id)
      for (const name of d.names) {
        const e = d.entries.get(name)!
        if (e.kind === 'dir') await visit(childPath(path, name), e.id)
      }
    }
    await visit('/', this.rootTree)
    return out
  }

  async listxattr (path: string, opts?: AbortOptions): Promise<string[]> {
    await this.resolve(path, opts)
    const x = this.catalog?.entries.get(path)?.xattrs
    return x === undefined ? [] : Object.keys(x)
  }

  async getxattr (path: string, name: string, opts?: AbortOptions): Promise<Buffer> {
    await this.resolve(path, opts)
    const x = this.catalog?.entries.get(path)?.xattrs
    if (x !== undefined && Object.hasOwn(x, name)) return Buffer.from(x[name], 'base64')
    throw new NotFoundError(`${path}: no attribute ${name}`, { code: 'ENOATTR' })
  }

  /** Catalog entries below `path` that the tree does not hold and that need no content. */
  private catalogOnlyChildren (path: string, dir: Dir | null): Array<{ name: string, entry: CatalogEntry }> {
    const names = this.catalog?.children.get(path)
    if (names === undefined) return []
    const out: Array<{ name: string, entry: CatalogEntry }> = []
    for (const name of names) {
      if (dir?.entries.has(name) === true) continue
      const entry = this.catalog!.entries.get(childPath(path, name))!
      if (entry.type === 'dir' || SPECIAL.has(entry.type)) out.push({ name, entry })
    }
    return out
  }

  /** A node for a tree entry or a catalog-only entry, checked against each other. */
  private async nodeFor (path: string, entry: TreeEntry | undefined, opts?: AbortOptions): Promise<Node> {
    const e = this.catalog?.entries.get(path)
    if (entry === undefined) {
      if (e === undefined || !(e.type === 'dir' || SPECIAL.has(e.type))) throw notFound(path)
      if (e.type !== 'dir') return { kind: 'special', type: e.type as SpecialKind }
      return { kind: 'dir', id: null, nlink: 2 + this.catalogOnlyChildren(path, null).filter(c => c.entry.type === 'dir').length }
    }
    if (entry.kind !== 'dir') return this.leafNode(path, entry)
    checkKind(path, entry, e)
    const dir = await this.dir(entry.id, opts)
    const extraDirs = this.catalogOnlyChildren(path, dir).filter(c => c.entry.type === 'dir').length
    return { kind: 'dir', id: entry.id, nlink: 2 + dir.subdirs + extraDirs }
  }

  /** The node of a tree entry other than a directory, checked against the catalog. */
  private leafNode (path: string, entry: TreeEntry): Node {
    const e = this.catalog?.entries.get(path)
    checkKind(path, entry, e)
    if (e?.size !== undefined) this.source.expectSize?.(entry.id, e.size)
    return entry as Node
  }

  /**
   * The node of a file, symlink or submodule at once when its directory was
   * listed already (`find` lists, then stats each entry); else undefined, and
   * `resolve` finds it (or says why not).
   */
  private leafNow (path: string): Node | undefined {
    const hit = this.nodes.get(path)
    if (hit !== undefined) return hit
    const slash = path.lastIndexOf('/')
    if (slash < 0) return undefined
    const parent = this.nodes.get(slash === 0 ? '/' : path.slice(0, slash))
    if (parent === undefined || parent.kind !== 'dir' || parent.id === null) return undefined
    const entry = this.dirs.get(parent.id)?.entries.get(path.slice(slash + 1))
    if (entry === undefined || entry.kind === 'dir') return undefined
    let node: Node
    try {
      node = this.leafNode(path, entry)
    } catch {
      return undefined
    }
    this.nodes.set(path, node)
    return node
  }

  /** The tree entry at `path`; "/" is the root. Throws NotFoundError. */
  private async resolve (path: string, opts?: AbortOptions): Promise<Node> {
    const hit = this.nodes.get(path)
    if (hit !== undefined) return hit
    if (path === '/') {
      const root = await this.nodeFor(path, { name: '', kind: 'dir', id: this.rootTree }, opts)
      this.nodes.set(path, root)
      return root
    }
    const slash = path.lastIndexOf('/')
    if (slash < 0 || path.endsWith('/')) throw notFound(path)
    const parent = await this.resolve(slash === 0 ? '/' : path.slice(0, slash), opts)
    if (parent.kind !== 'dir') throw parent.kind === 'gitlink' ? notFound(path) : new GtfsError('ENOTDIR', `${path}: a parent is not a directory`)
    const entry = parent.id === null ? undefined : (await this.dir(parent.id, opts)).entries.get(path.slice(slash + 1))
    const node = await this.nodeFor(path, entry, opts)
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

/** Files and symlinks: the nodes whose content (and size) is a blob. */
function hasBlob (node: Node): node is TreeEntry & { kind: 'file' | 'exec' | 'symlink' } {
  return node.kind === 'file' || node.kind === 'exec' || node.kind === 'symlink'
}

/** A tree entry and the catalog must agree on its kind (ECATALOG). */
function checkKind (path: string, entry: TreeEntry, e: CatalogEntry | undefined): void {
  if (e === undefined) return
  const want = entry.kind === 'exec' ? 'file' : entry.kind === 'gitlink' ? 'dir' : entry.kind
  if (e.type !== want) throw catalogError(path, `the tree holds a ${entry.kind}, the catalog a ${e.type}`)
}

function contentHandle (content: BlobContent): FileHandle {
  if (content.kind === 'buffer') {
    const data = content.data
    const readNow = (buf: Buffer, length: number, position: number): number =>
      position >= data.length ? 0 : data.copy(buf, 0, position, Math.min(data.length, position + length))
    return {
      size: data.length,
      readNow,
      heldContent: () => data,
      async read (buf, length, position) { return readNow(buf, length, position) },
      async close () {}
    }
  }
  const { blob, release } = content
  let closed = false
  return {
    size: blob.size,
    async read (buf, length, position, opts) { return await blob.read(buf, length, position, opts) },
    ...(blob.plainPath === undefined ? {} : { plainPath: () => closed ? undefined : blob.plainPath!() }),
    async close () {
      if (closed) return
      closed = true
      await release()
    }
  }
}
