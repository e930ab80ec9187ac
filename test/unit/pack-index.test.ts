import assert from 'node:assert/strict'
import { test } from 'node:test'
import { deflateSync } from 'node:zlib'
import { PackIndex } from '../../src/git/pack-index.ts'
import { buildPack } from '../../src/git/pack-write.ts'
import { rng } from '../helpers/rng.ts'

/** 20-byte ids as hex; many share their first four bytes, some differ in the last byte only. */
function craftedIds (n: number, seed: number): string[] {
  const rand = rng(seed)
  const ids = new Set<string>()
  const byte = (): string => Math.floor(rand() * 256).toString(16).padStart(2, '0')
  const prefixes = Array.from({ length: 16 }, () => byte() + byte() + byte() + byte())
  while (ids.size < n) {
    const head = rand() < 0.5 ? prefixes[Math.floor(rand() * prefixes.length)] : byte() + byte() + byte() + byte()
    const body = Array.from({ length: 15 }, byte).join('')
    ids.add(head + body + byte())
    if (rand() < 0.1) ids.add(head + body + byte())
  }
  return [...ids]
}

test('the pack index finds every id, by hex or raw key, and nothing else', () => {
  const ids = craftedIds(3000, 7)
  const data = deflateSync(Buffer.from('x'))
  const built = buildPack(ids.map(id => ({ id, type: 'blob', size: 1, deflated: data })))
  const index = new PackIndex(built.idx)
  assert.equal(index.count, ids.length)
  const offsets = new Set<number>()
  for (const id of ids) {
    const at = index.find(id)
    assert.ok(at >= 12, `${id} found`)
    assert.equal(index.findKey(Buffer.from(id, 'hex')), at)
    offsets.add(at)
  }
  assert.equal(offsets.size, ids.length, 'each id has its own entry')
  const held = new Set(ids)
  let absent = 0
  for (const id of ids) {
    // neighbours in every byte position the comparison looks at: the first four and the rest
    for (const pos of [3, 4, 19]) {
      const b = Buffer.from(id, 'hex')
      b[pos] ^= 1
      const other = b.toString('hex')
      if (held.has(other)) continue
      assert.equal(index.find(other), -1, `${other} is not in the index`)
      absent++
    }
  }
  assert.ok(absent > 8000)
})
