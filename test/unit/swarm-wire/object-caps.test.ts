import assert from 'node:assert/strict'
import { test } from 'node:test'
import { WantAssembly } from '../../../src/swarm/peer-request.ts'
import { MAX_NON_BLOB_BYTES } from '../../../src/swarm/messages.ts'

const id = 'ab'.repeat(20)

test('a commit, tree or tag announced over its cap is refused at its first chunk (ECAP); a blob of that size is not', () => {
  for (const type of ['tree', 'commit', 'tag'] as const) {
    const w = new WantAssembly([id], 0, 512 * 2 ** 20)
    assert.throws(() => w.accept({ t: 'object', r: 1, id, type, off: 0, total: MAX_NON_BLOB_BYTES + 1, data: Buffer.alloc(16) }), { code: 'ECAP' })
  }
  const w = new WantAssembly([id], 0, 512 * 2 ** 20)
  assert.equal(w.accept({ t: 'object', r: 1, id, type: 'blob', off: 0, total: MAX_NON_BLOB_BYTES + 1, data: Buffer.alloc(16) }), null)
})
