/**
 * The kernel's node ids for a dev-fuse.ts session and the paths they stand
 * for. The kernel names every inode by the id a LOOKUP (or a READDIRPLUS
 * entry) gave it, counts those replies, and FORGETs them when it drops the
 * inode; an id lives until its count is back to zero. Id 1 is the root, for
 * the mount's life.
 */

export interface Node {
  path: string
  nlookup: number
  /** auto_cache: the size and mtime a file's cached pages belong to */
  cached?: string
  /** opens of the file read through this process, not yet released */
  cachedOpens?: number
  /** an open of it read through the page cache was answered: the kernel may hold pages of it, of any version */
  paged?: boolean
  /** the backing file its passthrough opens read (dev-fuse.ts), while any is open */
  backing?: { id: number, opens: number }
}

/** The kernel's node ids and the paths they stand for; an id lives until the kernel forgets its last lookup. */
export class NodeTable {
  private readonly byId = new Map<number, Node>([[1, { path: '/', nlookup: 1 }]])
  private readonly byPath = new Map<string, number>([['/', 1]])
  private next = 2

  get (id: number): Node | undefined { return this.byId.get(id) }

  /** One more kernel reference to `path`: its id. */
  lookedUp (path: string): number {
    const id = this.byPath.get(path)
    if (id !== undefined) { this.byId.get(id)!.nlookup++; return id }
    const fresh = this.next++
    this.byId.set(fresh, { path, nlookup: 1 })
    this.byPath.set(path, fresh)
    return fresh
  }

  forget (id: number, n: number): void {
    const node = this.byId.get(id)
    if (node === undefined || id === 1) return
    node.nlookup -= n
    if (node.nlookup > 0) return
    this.byId.delete(id)
    this.byPath.delete(node.path)
  }
}

/** The path of `name` in the directory at `dir`. */
export const childPath = (dir: string, name: string): string => dir === '/' ? '/' + name : dir + '/' + name
