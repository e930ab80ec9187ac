/**
 * The child ids of a git tree, for tree closures (`want` with a depth).
 *
 * Deliberately not git/tree.ts's parseTree: that one drops entries whose names
 * are unsafe to show, which is a rule of the view, and its rules may change.
 * Server and requester must agree exactly on which objects a closure holds (a
 * requester refuses objects it did not expect), so both sides use this raw
 * reader: every entry but gitlinks (mode 160000, a commit of another repo), in
 * tree order. A malformed tree is null here (no children to follow); its hash
 * was checked, so it is the publisher's problem, and the view will refuse it.
 */
import type { ObjectId } from '../types.ts'

export interface TreeChild {
  id: ObjectId
  /** mode 40000: a subtree, expanded further while depth lasts */
  tree: boolean
}

/** Whether `data[pos, sp)` is the mode "40000" (a subtree), read as bytes. */
function isTreeMode (data: Buffer, pos: number, sp: number): boolean {
  return sp - pos === 5 && data[pos] === 0x34 && data[pos + 1] === 0x30 && data[pos + 2] === 0x30 && data[pos + 3] === 0x30 && data[pos + 4] === 0x30
}

/** Whether `data[pos, sp)` is the mode "160000" (a gitlink). */
function isGitlinkMode (data: Buffer, pos: number, sp: number): boolean {
  return sp - pos === 6 && data[pos] === 0x31 && data[pos + 1] === 0x36 && data[pos + 2] === 0x30 && data[pos + 3] === 0x30 && data[pos + 4] === 0x30 && data[pos + 5] === 0x30
}

/**
 * `treesOnly`: the subtrees only, what a trees-only closure takes (the same
 * children the full list holds with `tree` set), without making an id for
 * every other entry: a first mount's closure of the bench's wide tree has
 * 2,500 subtrees among 52,500 entries, and both the seeder and the reader walk it.
 */
export function treeChildren (data: Buffer, treesOnly = false): TreeChild[] | null {
  const out: TreeChild[] = []
  let pos = 0
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos)
    if (sp < 0 || sp - pos > 7 || sp === pos) return null
    const nul = data.indexOf(0, sp + 1)
    if (nul < 0 || nul + 21 > data.length) return null
    const tree = isTreeMode(data, pos, sp)
    if (tree || !(treesOnly || isGitlinkMode(data, pos, sp))) out.push({ id: data.toString('hex', nul + 1, nul + 21), tree })
    pos = nul + 21
  }
  return out
}
