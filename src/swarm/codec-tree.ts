/**
 * The child ids of a git tree, for tree closures (`want` with a depth).
 *
 * Deliberately not git/tree.ts's parseTree: that one drops entries whose names
 * are unsafe to show, which is a rule of the view, and its rules may change.
 * Server and requester must agree exactly on which objects a closure holds (a
 * requester refuses objects it did not expect), so both sides use this raw
 * reader: every entry but gitlinks (mode 160000, a commit of another repo), in
 * tree order. A malformed tree has no children here; its hash was checked, so
 * it is the publisher's problem, and the view will refuse it.
 */
import type { ObjectId } from '../types.ts'

export interface TreeChild {
  id: ObjectId
  /** mode 40000: a subtree, expanded further while depth lasts */
  tree: boolean
}

export function treeChildren (data: Buffer): TreeChild[] {
  const out: TreeChild[] = []
  let pos = 0
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos)
    if (sp < 0 || sp - pos > 7 || sp === pos) return []
    const nul = data.indexOf(0, sp + 1)
    if (nul < 0 || nul + 21 > data.length) return []
    const mode = data.toString('latin1', pos, sp)
    if (mode !== '160000') out.push({ id: data.toString('hex', nul + 1, nul + 21), tree: mode === '40000' })
    pos = nul + 21
  }
  return out
}
