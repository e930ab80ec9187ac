/**
 * Interfaces shared across layers. Nothing here imports anything: `fs/` sees a
 * TreeView, `swarm/` sees an ObjectSource, and neither knows what is behind it.
 */

export interface AbortOptions {
  signal?: AbortSignal
}

/** A git object id: 40 lowercase hex characters (SHA-1). */
export type ObjectId = string

export type ObjectType = 'blob' | 'tree' | 'commit' | 'tag'

export interface GitObject {
  type: ObjectType
  data: Buffer
}

/**
 * An object as a zlib stream of its data (no "<type> <size>\0" header),
 * exactly what a git pack entry stores: what a peer may be sent as is.
 */
export interface DeflatedObject {
  type: ObjectType
  /** bytes of the inflated data */
  size: number
  deflated: Buffer
}

/** Anything that can hand out verified git objects by id. */
export interface ObjectSource {
  /** The object, hash-verified. Throws NotFoundError (code ENOTFOUND) when absent. */
  read (id: ObjectId, opts?: AbortOptions): Promise<GitObject>
  has (id: ObjectId): Promise<boolean>
  /**
   * Bytes [off, off+len) of blob `id` (fewer at its end) and its size, without
   * reading the whole blob where the store allows. Throws NotFoundError when
   * absent. A source with it lets peers ask for ranges (`range` messages).
   */
  readRange?: (id: ObjectId, off: number, len: number, opts?: AbortOptions) => Promise<{ size: number, data: Buffer }>
  /**
   * The object's zlib stream as stored (a whole pack entry), not inflated and
   * not hash-checked here (the peer that gets it checks it); null when it is
   * not stored that way (a delta, a loose object, a large blob) or not held.
   */
  readDeflated?: (id: ObjectId, opts?: AbortOptions) => Promise<DeflatedObject | null>
}

export type EntryKind = 'dir' | 'file' | 'symlink' | 'gitlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket'

/** What `stat` shows of one path of a tree view. */
export interface EntryAttr {
  kind: EntryKind
  /** full st_mode including the file-type bits */
  mode: number
  /** bytes */
  size: number
  /** stable for a path of a given view, also across remounts */
  ino: number
  nlink: number
  uid: number
  gid: number
  /** device number for device nodes */
  rdev: number
  mtime: Date
}

/** An open file of a tree view. Reads are positional and may run concurrently. */
export interface FileHandle {
  readonly size: number
  /** Reads up to `length` bytes at `position` into `buf`; returns the count (0 at EOF). */
  read (buf: Buffer, length: number, position: number, opts?: AbortOptions): Promise<number>
  /** The same read answered at once, for content held in memory (no promise, no deadline to arm). */
  readNow?: (buf: Buffer, length: number, position: number) => number
  /** The whole content, where the handle holds it in memory (the FUSE session may hand it to the kernel's page cache at open); never to be modified. */
  heldContent?: () => Buffer
  /**
   * A local file holding exactly this content from offset 0, complete and
   * checked, that the kernel may read by itself (FUSE passthrough); undefined
   * when there is none now (asking may have one made for later opens).
   */
  plainPath?: () => string | undefined
  close (): Promise<void>
}

/** A read-only view of one tree, addressed by absolute POSIX paths ("/", "/a/b"). */
export interface TreeView {
  stat (path: string, opts?: AbortOptions): Promise<EntryAttr>
  /** `stat` answered at once when the view has the answer in memory; undefined means: ask `stat` */
  statNow?: (path: string) => EntryAttr | undefined
  /** `open` answered at once when the file's content is in memory; undefined means: ask `open` */
  openNow?: (path: string) => FileHandle | undefined
  /** The names in a directory. A view may hand out the same array for as long as the directory is unchanged: callers must not modify it. */
  readdir (path: string, opts?: AbortOptions): Promise<readonly string[]>
  readlink (path: string, opts?: AbortOptions): Promise<string>
  open (path: string, opts?: AbortOptions): Promise<FileHandle>
  listxattr (path: string, opts?: AbortOptions): Promise<string[]>
  getxattr (path: string, name: string, opts?: AbortOptions): Promise<Buffer>
}

/** Chunks of one large blob, as the signed catalog describes them (the repo layer hands it to the swarm's fetcher). */
export interface ChunkSpec {
  id: ObjectId
  /** bytes of the blob */
  size: number
  /** bytes of each chunk but the last */
  chunkBytes: number
  /** hex SHA-256 chunk `index` must have */
  hash: (index: number) => string
  /** where a chunk goes once checked against `hash(index)` (the write need not hash it again); resolves when it may be read */
  write: (index: number, data: Buffer) => Promise<void>
}
