import assert from 'node:assert/strict'
import { test } from 'node:test'
import { WantAssembly } from '../../../src/swarm/peer-request.ts'
import { MAX_NON_BLOB_BYTES } from '../../../src/swarm/messages.ts'
import { hashObject } from '../../../src/git/object-id.ts'

const id = 'ab'.repeat(20)

test('a commit, tree or tag announced over its cap is refused at its first chunk (ECAP); a blob of that size is not', () => {
  for (const type of ['tree', 'commit', 'tag'] as const) {
    const w = new WantAssembly([id], 0, 512 * 2 ** 20)
    assert.throws(() => w.accept({ t: 'object', r: 1, id, type, off: 0, total: MAX_NON_BLOB_BYTES + 1, data: Buffer.alloc(16) }), { code: 'ECAP' })
  }
  const w = new WantAssembly([id], 0, 512 * 2 ** 20)
  assert.equal(w.accept({ t: 'object', r: 1, id, type: 'blob', off: 0, total: MAX_NON_BLOB_BYTES + 1, data: Buffer.alloc(16) }), null)
})

test('asked for commits, trees or tags (nonBlobs), a blob is refused at its first chunk (EPROTO), whatever its size', () => {
  const w = new WantAssembly([id], 0, 512 * 2 ** 20, { nonBlobs: true })
  assert.throws(() => w.accept({ t: 'object', r: 1, id, type: 'blob', off: 0, total: 512 * 2 ** 20, data: Buffer.alloc(16) }), { code: 'EPROTO' })
})

test('an object is assembled chunk by chunk, hash-checked, and a chunk past its size is refused (EPROTO)', async () => {
  const data = Buffer.from('hello, chunks')
  const blob = hashObject('blob', data)
  const w = new WantAssembly([blob], 0, 2 ** 20)
  assert.equal(w.accept({ t: 'object', r: 1, id: blob, type: 'blob', off: 0, total: data.length, data: data.subarray(0, 5) }), null)
  const got = await w.accept({ t: 'object', r: 1, id: blob, type: 'blob', off: 5, total: data.length, data: data.subarray(5) })
  assert.ok(got?.data.equals(data))
  const over = new WantAssembly([blob], 0, 2 ** 20)
  over.accept({ t: 'object', r: 1, id: blob, type: 'blob', off: 0, total: data.length, data: data.subarray(0, 5) })
  assert.throws(() => over.accept({ t: 'object', r: 1, id: blob, type: 'blob', off: 5, total: data.length, data: Buffer.concat([data.subarray(5), Buffer.from('!')]) }), { code: 'EPROTO' })
})
