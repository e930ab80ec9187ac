/**
 * A swarm whose DHT names mostly peers that are gone: 400 announcements of
 * closed ports on loopback, and one seeder. The DHT node names them all, in
 * random order; a reader must keep dialling until it finds the seeder. (It
 * dialled the first 32 named and stopped there: the mount failed with
 * ENOPEERS in 6 of 6 runs of this test, 2 of 3 with 200 gone, as a bench
 * reader's did once the readers that had left outnumbered 32.)
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { SwarmDht } from '../../src/swarm/dht.ts'
import { swarmInfohash } from '../../src/swarm/infohash.ts'
import { makeRepo, Swarm } from '../helpers/swarm.ts'

const GONE = 400
let s: Swarm
let repo: string

/** `n` loopback TCP ports that nothing listens on: bound, then closed. */
async function closedPorts (n: number): Promise<number[]> {
  const servers: Server[] = []
  for (let i = 0; i < n; i++) {
    const srv = createServer()
    await new Promise<void>((resolve, reject) => { srv.once('error', reject); srv.listen(0, '127.0.0.1', resolve) })
    servers.push(srv)
  }
  const ports = servers.map(srv => (srv.address() as { port: number }).port)
  await Promise.all(servers.map(async srv => { await new Promise(resolve => srv.close(resolve)) }))
  return ports
}

before(async () => {
  s = await Swarm.start('stale-peers')
  repo = join(s.path, 'repo')
  await makeRepo(repo, 1, 1024)
})

after(async () => { await s.close() })

test(`a reader finds the one live seeder among ${GONE} announced peers that are gone`, async () => {
  const key = await s.publish('a', repo)
  const dht = new SwarmDht({ env: { ...process.env, ...s.env, GTFS_TEST: '1' } })
  try {
    await dht.start({ host: '127.0.0.1', bootstrap: s.env.GTFS_BOOTSTRAP })
    for (const port of await closedPorts(GONE)) await dht.announce(swarmInfohash(key), port)
  } finally {
    await dht.stop()
  }
  const dir = join(s.path, 'mb')
  await s.mount('b', key, dir)
  assert.equal(await readFile(join(dir, 'README'), 'utf8'), await readFile(join(repo, 'README'), 'utf8'))
  const peers = (await s.repoStatus('b', key))?.peers ?? []
  assert.ok(peers.some(p => p.bytesIn > 0), JSON.stringify(peers))
})
