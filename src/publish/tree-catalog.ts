/**
 * A sizes catalog from a git tree: every file and symlink with its size, read
 * from object headers (no blob is inflated in full). Names that gtfs never
 * shows (git/path-safety.ts) are skipped as the tree view skips them.
 */
import { parseCommit, parseTagTarget } from '../git/commit.ts'
import { parseTree } from '../git/tree.ts'
import type { Catalog, CatalogEntry } from '../git/catalog.ts'
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
        }))
      }
    }
    await Promise.all(sized)
  }
  await walk(tree, '')
  return { tree, rootfs: false, entries }
}
