/**
 * "Does commit `descendant` contain commit `ancestor` in its history?" —
 * the isAncestor question verifyManifest asks for its fast-forward rule,
 * answered by walking parents through local object stores (gtfs's store,
 * then the source repository of the publisher). A commit that is on no
 * store here cannot be judged: ENOCOMMIT, never a guess.
 */
import { GtfsError } from '../errors.ts'
import { parseCommit } from '../git/commit.ts'
import type { GitObjectStore } from '../store/object-store.ts'
import type { ObjectId } from '../types.ts'

/** commits visited at most for one question */
const MAX_WALK = 2_000_000

export function makeIsAncestor (stores: GitObjectStore[]): (ancestor: ObjectId, descendant: ObjectId) => Promise<boolean> {
  const parentsOf = async (id: ObjectId, ancestor: ObjectId, descendant: ObjectId): Promise<ObjectId[]> => {
    for (const store of stores) {
      if (!(await store.has(id))) continue
      const obj = await store.read(id)
      if (obj.type !== 'commit') throw new GtfsError('ENOTCOMMIT', `${id} is a ${obj.type}, not a commit`)
      return parseCommit(obj.data, id).parents
    }
    throw new GtfsError('ENOCOMMIT', `cannot tell whether ${descendant} descends from ${ancestor}: commit ${id} is not on this machine`,
      { hint: 'verify where the git repository is (the one `gtfs publish` read), or fetch its objects first' })
  }
  return async (ancestor, descendant) => {
    if (ancestor === descendant) return true
    const seen = new Set<ObjectId>([descendant])
    let frontier = [descendant]
    while (frontier.length > 0) {
      const next: ObjectId[] = []
      for (const id of frontier) {
        for (const p of await parentsOf(id, ancestor, descendant)) {
          if (p === ancestor) return true
          if (seen.has(p)) continue
          if (seen.size >= MAX_WALK) throw new GtfsError('ETOOLARGE', `more than ${MAX_WALK} commits between ${ancestor} and ${descendant}`)
          seen.add(p)
          next.push(p)
        }
      }
      frontier = next
    }
    return false
  }
}
