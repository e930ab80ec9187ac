/**
 * A sizes catalog from a git tree: every file and symlink with its size, read
 * from object headers (no other blob is inflated in full), and the chunk
 * hashes of every blob of at least CHUNKED_BLOB_BYTES (each such blob is read
 * once, streaming). Names that gtfs never shows (git/path-safety.ts) are
 * skipped as the tree view skips them.
 */
import { createHash } from 'node:crypto'
import { parseCommit, parseTagTarget } from '../git/commit.ts'
import { parseTree } from '../git/tree.ts'
import { CHUNKED_BLOB_BYTES, DEFAULT_CHUNK_BYTES, type Catalog, type CatalogEntry } from '../git/catalog.ts'
import { GtfsError } from '../errors.ts'
import type { GitObjectStore } from '../store/object-store.ts'
import type { ObjectId } from '../types.ts'

/** Peels tags to the commit; returns the commit id and its root tree. */
export async function commitAndTree (store: GitObjectStore, id: ObjectId): Promise<{ commit: ObjectId, tree: ObjectId, parents: ObjectId[] }> {
  for (let i = 0; i < 16; i++) {
    const obj = await store.read(id)
    if (obj.type === 'commit') {
      const c = parseCommit(obj.data, id)
      return { commit: id, tree: c.tree, parents: c.parents }
    }
    if (obj.type !== 'tag') throw new GtfsError('ENOTCOMMIT', `${id} is a ${obj.type}, not a commit`, { hint: 'publish refs that point at commits (or tags of commits)' })
    id = parseTagTarget(obj.data, id).object
  }
  throw new GtfsError('ENOTCOMMIT', `${id}: tag chain too long`)
}

export async function sizesCatalog (store: GitObjectStore, tree: ObjectId): Promise<Catalog> {
  const entries = new Map<string, CatalogEntry>()
  const large = new Map<ObjectId, number>()
  const walk = async (treeId: ObjectId, prefix: string): Promise<void> => {
    const obj = await store.read(treeId)
    if (obj.type !== 'tree') throw new GtfsError('EWRONGTYPE', `${treeId} is a ${obj.type}, expected a tree`)
    const { entries: list } = parseTree(obj.data, treeId)
    const seen = new Set<string>()
    const sized: Array<Promise<void>> = []
    for (const e of list) {
      if (seen.has(e.name)) continue // a duplicate name: the first wins, as in the view
      seen.add(e.name)
      const path = `${prefix}/${e.name}`
      if (e.kind === 'dir') await walk(e.id, path)
      else if (e.kind !== 'gitlink') {
        sized.push(store.size(e.id).then(size => {
          entries.set(path, { type: e.kind === 'symlink' ? 'symlink' : 'file', size })
          if (e.kind !== 'symlink' && size >= CHUNKED_BLOB_BYTES) large.set(e.id, size)
        }))
      }
    }
    await Promise.all(sized)
  }
  await walk(tree, '')
  const catalog: Catalog = { tree, rootfs: false, entries }
  if (large.size > 0) {
    const hashes = new Map<ObjectId, string>()
    for (const [id, size] of large) hashes.set(id, await chunkHashes(store, id, size, DEFAULT_CHUNK_BYTES))
    catalog.chunks = { bytes: DEFAULT_CHUNK_BYTES, hashes }
  }
  return catalog
}

/** The concatenated hex SHA-256s of each `chunkBytes` slice of a blob's content. */
export async function chunkHashes (store: GitObjectStore, id: ObjectId, size: number, chunkBytes: number): Promise<string> {
  const out: string[] = []
  let h = createHash('sha256')
  let inChunk = 0
  let total = 0
  for await (let piece of store.streamBlob(id, size)) {
    total += piece.length
    while (piece.length > 0) {
      const n = Math.min(piece.length, chunkBytes - inChunk)
      h.update(piece.subarray(0, n))
      inChunk += n
      piece = piece.subarray(n)
      if (inChunk === chunkBytes) { out.push(h.digest('hex')); h = createHash('sha256'); inChunk = 0 }
    }
  }
  if (inChunk > 0) out.push(h.digest('hex'))
  if (total !== size) throw new GtfsError('EMALFORMED', `blob ${id} streamed ${total} of its ${size} bytes`)
  return out.join('')
}
