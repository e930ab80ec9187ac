/**
 * Two processes over TCP on 127.0.0.1: seeders in child processes, the reader
 * here. Measures loopback throughput (reported as test diagnostics) and checks
 * that a liar among the seeders is banned while the fetch completes.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { hashObject } from '../../src/git/object-id.ts'
import { Fetcher, type ObjectSink } from '../../src/swarm/fetcher.ts'
import { PeerPool } from '../../src/swarm/peer-pool.ts'
import { Transport } from '../../src/swarm/transport.ts'
import type { ObjectId, ObjectType } from '../../src/types.ts'
import { BIG_BYTES, content, INFOHASH, SMALL_COUNT, type Content } from './wire-content.ts'

const seederPath = fileURLToPath(new URL('./wire-seeder.ts', import.meta.url))
const children: ChildProcess[] = []

async function seeder (mode: 'honest' | 'liar'): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', seederPath, mode], { stdio: ['pipe', 'pipe', 'inherit'] })
  children.push(child)
  const lines = createInterface({ input: child.stdout! })
  const [line] = await once(lines, 'line') as [string]
  lines.close()
  return (JSON.parse(line) as { port: number }).port
}

class CheckingSink implements ObjectSink {
  readonly got = new Set<ObjectId>()
  bytes = 0
  async write (type: ObjectType, data: Buffer, id: ObjectId): Promise<void> {
    assert.equal(hashObject(type, data), id)
    this.got.add(id)
    this.bytes += data.length
  }
}

let c: Content
let honestPort = 0
let liarPort = 0
const client = new Transport()

before(async () => {
  const ports = Promise.all([seeder('honest'), seeder('liar')])
  c = content()
  ;[honestPort, liarPort] = await ports
})

after(async () => {
  await client.close()
  for (const child of children) {
    child.stdin?.end()
    if (child.exitCode === null) {
      const exited = once(child, 'exit')
      const t = setTimeout(() => { child.kill('SIGKILL') }, 2000)
      await exited
      clearTimeout(t)
    }
  }
})

test('a reader in this process fetches from a seeder process over TCP', async (t) => {
  const pool = new PeerPool()
  pool.add(await client.connect('127.0.0.1', honestPort, { infoHash: INFOHASH }))
  const sink = new CheckingSink()
  const f = new Fetcher({ pool, sink })

  let t0 = performance.now()
  await f.fetch([c.big])
  let s = (performance.now() - t0) / 1000
  assert.ok(sink.got.has(c.big))
  t.diagnostic(`one 64 MiB blob: ${(BIG_BYTES / 1048576 / s).toFixed(0)} MiB/s (${(s * 1000).toFixed(0)} ms)`)

  t0 = performance.now()
  await f.fetch(c.small)
  s = (performance.now() - t0) / 1000
  assert.equal(sink.got.size, 1 + SMALL_COUNT)
  t.diagnostic(`${SMALL_COUNT} small objects: ${(SMALL_COUNT / s).toFixed(0)} objects/s (${(s * 1000).toFixed(0)} ms)`)

  t0 = performance.now()
  await f.fetch([c.root], { depth: 64 })
  s = (performance.now() - t0) / 1000
  for (const id of c.tree) assert.ok(sink.got.has(id))
  t.diagnostic(`tree closure of ${c.tree.length} objects in one request: ${(s * 1000).toFixed(0)} ms`)
  pool.close()
})

test('with a liar among the seeders the fetch completes from the honest one and the liar is banned', async () => {
  const pool = new PeerPool()
  const liar = await client.connect('127.0.0.1', liarPort, { infoHash: INFOHASH })
  const honest = await client.connect('127.0.0.1', honestPort, { infoHash: INFOHASH })
  pool.add(liar)
  pool.add(honest)
  const sink = new CheckingSink()
  await new Fetcher({ pool, sink, batchSize: 32 }).fetch(c.small.slice(0, 2000))
  assert.equal(sink.got.size, 2000)
  assert.ok(pool.isBanned(`127.0.0.1:${liarPort}`))
  assert.equal(liar.closed, true)
  assert.equal(honest.closed, false)
  pool.close()
})
