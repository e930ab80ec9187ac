/**
 * A TreeView that can move to a newer snapshot while mounted: new lookups see
 * the new tree, while a file already open keeps the bytes it was opened with
 * (its handle holds the old blob).
 */
import type { AbortOptions, EntryAttr, FileHandle, TreeView } from '../types.ts'

export class FollowingView implements TreeView {
  constructor (private current: TreeView) {}

  get view (): TreeView { return this.current }

  switchTo (next: TreeView): void { this.current = next }

  // The current view's own promises, passed through: a wrapper's await would cost every operation a tick.
  stat (path: string, opts?: AbortOptions): Promise<EntryAttr> { return this.current.stat(path, opts) }
  statNow (path: string): EntryAttr | undefined { return this.current.statNow?.(path) }
  readdir (path: string, opts?: AbortOptions): Promise<readonly string[]> { return this.current.readdir(path, opts) }
  readlink (path: string, opts?: AbortOptions): Promise<string> { return this.current.readlink(path, opts) }
  open (path: string, opts?: AbortOptions): Promise<FileHandle> { return this.current.open(path, opts) }
  openNow (path: string): FileHandle | undefined { return this.current.openNow?.(path) }
  listxattr (path: string, opts?: AbortOptions): Promise<string[]> { return this.current.listxattr(path, opts) }
  getxattr (path: string, name: string, opts?: AbortOptions): Promise<Buffer> { return this.current.getxattr(path, name, opts) }
}
