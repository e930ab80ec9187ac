import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { buildPack } from '../../src/git/pack-write.ts'
import { PackIndex } from '../../src/git/pack-index.ts'
import { PackIdFilter } from '../../src/store/pack-filter.ts'

/** An index of `n` random ids (the pack's bytes do not matter here). */
function index (n: number): { index: PackIndex, ids: Buffer[] } {
  const ids = Array.from({ length: n }, () => randomBytes(20))
  const built = buildPack(ids.map(id => ({ id: id.toString('hex'), type: 'blob' as const, size: 1, deflated: Buffer.from([0x78, 0x01]) })))
  return { index: new PackIndex(built.idx), ids }
}

test('the pack id filter never misses an id of a pack it holds, and rarely claims one it does not', () => {
  const f = new PackIdFilter()
  assert.equal(f.mightHave(randomBytes(20)), false, 'empty')
  const a = index(5000)
  assert.equal(f.add(a.index), false, 'an empty filter is full: it must be built first')
  f.rebuild([a.index], a.index.count)
  const b = index(3000)
  assert.equal(f.add(b.index), true)
  for (const id of [...a.ids, ...b.ids]) assert.equal(f.mightHave(id), true)
  let wrong = 0
  for (let i = 0; i < 20_000; i++) if (f.mightHave(randomBytes(20))) wrong++
  assert.ok(wrong < 200, `${wrong} of 20,000 absent ids claimed (about 0.5% expected)`)
})

test('the pack id filter grows when full and is rebuilt once most of it is of packs gone', () => {
  const f = new PackIdFilter()
  const packs = [index(20_000)]
  f.rebuild(packs.map(p => p.index), 20_000)
  const bytes = f.bytes
  // Add until the filter refuses, then rebuild bigger, as the store does.
  let live = 20_000
  for (let i = 0; i < 6; i++) {
    const p = index(20_000)
    packs.push(p)
    live += 20_000
    if (!f.add(p.index)) f.rebuild(packs.map(q => q.index), live)
  }
  assert.ok(f.bytes > bytes, 'it grew')
  for (const p of packs) for (const id of p.ids) assert.equal(f.mightHave(id), true)
  assert.equal(f.stale(live), false)
  assert.equal(f.stale(20_000), true, 'six packs of seven gone')
})
