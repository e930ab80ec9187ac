/**
 * Captures a root filesystem's metadata from a real directory into a rootfs
 * catalog (git/catalog.ts): lstat of every path (never following symlinks),
 * owners, all mode bits, mtimes, device numbers, fifos, sockets, hard-link
 * groups (same device and inode), empty directories, and xattrs (xattrs.ts).
 *
 * The catalog is then checked against the git tree committed from the same
 * directory: every file and symlink must be in the tree with the size the
 * tree's blob has, and the tree must hold nothing else. A directory that
 * changed between the commit and the capture fails with ECHANGED, so a
 * catalog never describes other bytes than the signed commit holds.
 */
import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { GtfsError, UnsafePathError } from '../errors.ts'
import {
  canonicalLinkGroups, MAX_MAJOR, MAX_MINOR, splitDev, type Catalog, type CatalogEntry, type CatalogKind
} from '../git/catalog.ts'
import { unsafeNameReason } from '../git/path-safety.ts'
import type { ObjectId } from '../types.ts'
import { readXattrs } from './xattrs.ts'

const utf8 = new TextDecoder('utf-8', { fatal: true })

function kindOf (mode: number): CatalogKind {
  switch (mode & 0o170000) {
    case 0o100000: return 'file'
    case 0o040000: return 'dir'
    case 0o120000: return 'symlink'
    case 0o020000: return 'chardev'
    case 0o060000: return 'blockdev'
    case 0o010000: return 'fifo'
    case 0o140000: return 'socket'
    default: throw new GtfsError('EBADTYPE', `unknown file type ${(mode & 0o170000).toString(8)}`)
  }
}

/** Metadata of every path below `root` ("/" is the root itself); tree is filled in later. */
export async function captureMetadata (root: string): Promise<Map<string, CatalogEntry>> {
  const entries = new Map<string, CatalogEntry>()
  const inodes = new Map<string, string[]>() // "dev:ino" → paths, for hard links
  const visit = async (abs: string, path: string): Promise<void> => {
    const st = await lstat(abs, { bigint: false })
    const type = kindOf(st.mode)
    const e: CatalogEntry = { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) }
    if (type === 'file' || type === 'symlink') e.size = st.size
    if (type === 'chardev' || type === 'blockdev') {
      const [major, minor] = splitDev(st.rdev)
      if (major > MAX_MAJOR || minor > MAX_MINOR) throw new GtfsError('EBADDEV', `${path}: device ${major}:${minor} does not fit the 32-bit encoding FUSE passes`)
      e.rdev = [major, minor]
    }
    if (type !== 'dir' && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`
      const list = inodes.get(key)
      if (list === undefined) inodes.set(key, [path])
      else list.push(path)
    }
    entries.set(path, e)
    if (type !== 'dir') return
    const names = await readdir(abs, { encoding: 'buffer' })
    for (const raw of names) {
      let name: string
      try {
        name = utf8.decode(raw)
      } catch {
        throw new UnsafePathError(`${path}: holds a name that is not UTF-8 (${JSON.stringify(raw.toString('latin1'))}); gtfs could not serve it`)
      }
      const why = unsafeNameReason(name)
      if (why !== null) {
        throw new UnsafePathError(`${path === '/' ? '' : path}/${name}: gtfs never serves such a name (${why})`, { hint: 'remove or rename it in the root filesystem, then publish again' })
      }
      await visit(join(abs, name), path === '/' ? `/${name}` : `${path}/${name}`)
    }
  }
  await visit(root, '/')
  let group = 0
  for (const paths of inodes.values()) {
    if (paths.length < 2) continue // other links lie outside the tree
    group++
    for (const p of paths) entries.get(p)!.link = group
  }
  const xattrs = await readXattrs(root)
  for (const [rel, attrs] of xattrs) {
    const e = entries.get(rel === '' ? '/' : `/${rel}`)
    if (e === undefined || attrs.size === 0) continue
    e.xattrs = Object.fromEntries([...attrs].sort(([a], [b]) => a < b ? -1 : 1))
  }
  canonicalLinkGroups(entries)
  return entries
}

/**
 * The rootfs catalog of `tree`: captured metadata, checked against the sizes
 * of the tree's files and symlinks (ECHANGED on any difference).
 */
export function rootfsCatalog (tree: ObjectId, metadata: Map<string, CatalogEntry>, treeSizes: Catalog): Catalog {
  for (const [path, t] of treeSizes.entries) {
    const m = metadata.get(path)
    if (m === undefined || m.type !== t.type || m.size !== t.size) {
      throw changed(path, m === undefined ? 'is in the commit but not in the directory' : `is a ${m.type} of ${String(m.size)} bytes, the commit holds a ${t.type} of ${String(t.size)}`)
    }
  }
  for (const [path, m] of metadata) {
    if ((m.type === 'file' || m.type === 'symlink') && !treeSizes.entries.has(path)) throw changed(path, 'is in the directory but not in the commit')
  }
  return { tree, rootfs: true, entries: metadata, ...(treeSizes.chunks === undefined ? {} : { chunks: treeSizes.chunks }) }
}

function changed (path: string, why: string): GtfsError {
  return new GtfsError('ECHANGED', `the root filesystem changed while it was published: ${path} ${why}`, { hint: 'publish from a directory nothing writes to' })
}
