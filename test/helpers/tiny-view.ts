/** A TreeView of one directory holding one file, for namespace tests without a repo. */
import { NotFoundError } from '../../src/errors.ts'
import type { EntryAttr, TreeView } from '../../src/types.ts'

/** "/" (ino 1, as CommitView numbers a root) holding file "f" (ino 5) whose content is `content`. */
export function tinyView (content: string): TreeView {
  const attr = (kind: 'dir' | 'file', ino: number): EntryAttr => ({ kind, mode: kind === 'dir' ? 0o40755 : 0o100644, size: kind === 'dir' ? 4096 : Buffer.byteLength(content), ino, nlink: 1, uid: 0, gid: 0, rdev: 0, mtime: new Date(0) })
  const nope = (p: string): never => { throw new NotFoundError(`${p}: no such file`, { code: 'ENOENT' }) }
  return {
    stat: async p => p === '/' ? attr('dir', 1) : p === '/f' ? attr('file', 5) : nope(p),
    readdir: async p => p === '/' ? ['f'] : nope(p),
    readlink: async p => nope(p),
    open: async p => {
      if (p !== '/f') nope(p)
      const data = Buffer.from(content)
      return { size: data.length, read: async (buf, length, position) => data.copy(buf, 0, position, Math.min(data.length, position + length)), close: async () => {} }
    },
    listxattr: async () => [],
    getxattr: async p => nope(p)
  }
}
