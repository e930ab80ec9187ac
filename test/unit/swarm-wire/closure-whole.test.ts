/**
 * WantAssembly.whole: whether a closure arrived whole is judged from what
 * arrived, never from the peer's word; a mount skips walking its structure
 * only then (repo/swarm-repo.ts).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { hashObject } from '../../../src/git/object-id.ts'
import { WantAssembly } from '../../../src/swarm/peer-request.ts'
import type { ObjectId } from '../../../src/types.ts'

interface Obj { id: ObjectId, data: Buffer }

function tree (entries: Array<[string, string, ObjectId]>): Obj {
  const data = Buffer.concat(entries.map(([mode, name, id]) => Buffer.concat([Buffer.from(`${mode} ${name}\0`), Buffer.from(id, 'hex')])))
  return { id: hashObject('tree', data), data }
}

/** root → a → c, root → b; every tree also holds a file */
function structure (): { root: Obj, a: Obj, b: Obj, c: Obj } {
  const file = hashObject('blob', Buffer.from('x\n'))
  const c = tree([['100644', 'f', file]])
  const a = tree([['40000', 'c', c.id], ['100644', 'f', file]])
  const b = tree([['100644', 'g', file]])
  const root = tree([['40000', 'a', a.id], ['40000', 'b', b.id], ['100644', 'f', file]])
  return { root, a, b, c }
}

function send (w: WantAssembly, o: Obj): void {
  const got = w.accept({ t: 'object', r: 1, id: o.id, type: 'tree', off: 0, total: o.data.length, data: o.data })
  assert.ok(got !== null && !(got instanceof Promise))
}

test('a trees-only closure that came in full, within its depth, is whole', () => {
  const s = structure()
  const w = new WantAssembly([s.root.id], 3, 2 ** 20, { treesOnly: true, nonBlobs: true })
  for (const o of [s.root, s.a, s.b, s.c]) send(w, o)
  assert.deepEqual(w.finish(), [])
  assert.equal(w.whole, true)
})

test('a closure is not whole when a tree is left unsent, when the depth ran out at a tree, or without a depth', () => {
  const s = structure()
  const short = new WantAssembly([s.root.id], 3, 2 ** 20, { treesOnly: true, nonBlobs: true })
  for (const o of [s.root, s.a, s.b]) send(short, o)
  assert.deepEqual(short.finish(), [])
  assert.equal(short.whole, false, 'c was named by a and never came')

  const shallow = new WantAssembly([s.root.id], 2, 2 ** 20, { treesOnly: true, nonBlobs: true })
  for (const o of [s.root, s.a, s.b, s.c]) send(shallow, o)
  shallow.finish()
  assert.equal(shallow.whole, false, 'c came at depth 0: what it names was never asked for')

  const flat = new WantAssembly([s.c.id], 0, 2 ** 20)
  send(flat, s.c)
  flat.finish()
  assert.equal(flat.whole, false)
})

test('a requested tree the peer disclaims, or a malformed tree, leaves the closure not whole', () => {
  const s = structure()
  const disclaimed = new WantAssembly([s.root.id, s.b.id], 3, 2 ** 20, { treesOnly: true, nonBlobs: true })
  disclaimed.dontHave([s.root.id])
  send(disclaimed, s.b)
  assert.deepEqual(disclaimed.finish(), [s.root.id])
  assert.equal(disclaimed.whole, false)

  // hash-valid bytes that are no tree: nothing can be read of what it names
  const bad = { id: hashObject('tree', Buffer.from('not a tree')), data: Buffer.from('not a tree') }
  const w = new WantAssembly([bad.id], 3, 2 ** 20, { treesOnly: true, nonBlobs: true })
  send(w, bad)
  w.finish()
  assert.equal(w.whole, false)
})
