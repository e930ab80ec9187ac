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

  async stat (path: string, opts?: AbortOptions): Promise<EntryAttr> { return await this.current.stat(path, opts) }
  async readdir (path: string, opts?: AbortOptions): Promise<string[]> { return await this.current.readdir(path, opts) }
  async readlink (path: string, opts?: AbortOptions): Promise<string> { return await this.current.readlink(path, opts) }
  async open (path: string, opts?: AbortOptions): Promise<FileHandle> { return await this.current.open(path, opts) }
  async listxattr (path: string, opts?: AbortOptions): Promise<string[]> { return await this.current.listxattr(path, opts) }
  async getxattr (path: string, name: string, opts?: AbortOptions): Promise<Buffer> { return await this.current.getxattr(path, name, opts) }
}
