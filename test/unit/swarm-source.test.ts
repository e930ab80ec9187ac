/**
 * SwarmSource bounds what a peer may send for a blob by the size the signed
 * catalog gives it (the view hints it; the fetch refuses another, EBADSIZE),
 * not by the protocol's 512 MiB cap: TUF's endless-data attack.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hashObject } from '../../src/git/object-id.ts'
import { SwarmSource, type ObjectFetcher } from '../../src/repo/swarm-source.ts'
import { GitObjectStore } from '../../src/store/object-store.ts'
import type { ObjectId } from '../../src/types.ts'

test('a blob hinted with its catalog size is fetched bounded by it; an unhinted one by the protocol cap', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gtfs-test-swarm-source-'))
  try {
    const store = await GitObjectStore.open(join(dir, 'objects'))
    const data = Buffer.from('twelve bytes')
    const id = hashObject('blob', data)
    const other = hashObject('blob', Buffer.from('unhinted'))
    const asked: Array<[ObjectId, number | undefined]> = []
    const fetcher: ObjectFetcher = {
      fetch: async (ids, opts = {}) => {
        for (const i of ids) asked.push([i, opts.sizeOf?.(i)])
        if (ids.includes(id)) await store.write('blob', data, id)
      }
    }
    const source = new SwarmSource(store, fetcher)
    source.expectSize(id, data.length)
    assert.deepEqual((await source.read(id)).data, data)
    await assert.rejects(source.read(other))
    assert.deepEqual(asked, [[id, 12], [other, undefined]])
    await store.close()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
