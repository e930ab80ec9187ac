/** The TCP transport on 127.0.0.1: connection cap, deadlines, refusals. */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import net from 'node:net'
import { test } from 'node:test'
import { Transport } from '../../src/swarm/transport.ts'
import { INFOHASH, MemorySource } from '../unit/swarm-wire/helpers.ts'

const ctx = { infoHash: INFOHASH, source: new MemorySource() }

test('a socket that never completes the handshake is closed at the connection deadline', async () => {
  const server = new Transport({ accept: () => ctx, connectTimeoutMs: 150 })
  const { port } = await server.listen()
  const sock = net.connect(port, '127.0.0.1')
  await once(sock, 'connect')
  sock.write(Buffer.from([19])) // one byte of a handshake, then silence
  const t0 = Date.now()
  await once(sock, 'close')
  assert.ok(Date.now() - t0 < 1000)
  assert.equal(server.connections, 0)
  await server.close()
})

test('connections above the cap are refused; a dial to a closed port fails fast', async () => {
  const server = new Transport({ accept: () => ctx, maxConnections: 2 })
  const { port } = await server.listen()
  const client = new Transport()
  const a = await client.connect('127.0.0.1', port, { infoHash: INFOHASH })
  const b = await client.connect('127.0.0.1', port, { infoHash: INFOHASH })
  await assert.rejects(client.connect('127.0.0.1', port, { infoHash: INFOHASH }), { code: 'EPEERCLOSED' })
  assert.equal(server.connections, 2)
  assert.ok(a.ready && b.ready)
  const dialer = new Transport({ maxConnections: 1 })
  await dialer.connect('127.0.0.1', port, { infoHash: INFOHASH }).catch(() => {}) // the server is full
  await client.close()
  while (server.connections > 0) await new Promise(resolve => setTimeout(resolve, 5))
  const one = await dialer.connect('127.0.0.1', port, { infoHash: INFOHASH })
  assert.ok(one.ready)
  await assert.rejects(dialer.connect('127.0.0.1', port, { infoHash: INFOHASH }), { code: 'EMAXCONN' })
  await dialer.close()
  await server.close()

  const closed = new Transport({ connectTimeoutMs: 2000 })
  await assert.rejects(closed.connect('127.0.0.1', port, { infoHash: INFOHASH }), { code: 'EPEERCLOSED' })
  await closed.close()
})

test('an unknown swarm and a banned address are refused', async () => {
  const server = new Transport({ accept: h => h === INFOHASH.toString('hex') ? ctx : null, isBanned: a => a.startsWith('10.') })
  const { port } = await server.listen()
  const client = new Transport({ isBanned: a => a === `127.0.0.1:${port + 1}` })
  await assert.rejects(client.connect('127.0.0.1', port, { infoHash: Buffer.alloc(20, 1) }), (err: Error & { code?: string }) => err.code === 'EPEERCLOSED' || err.code === 'ENOSWARM')
  await assert.rejects(client.connect('127.0.0.1', port + 1, { infoHash: INFOHASH }), { code: 'EBANNED' })
  const peer = await client.connect('127.0.0.1', port, { infoHash: INFOHASH })
  assert.ok(peer.ready)
  await client.close()
  await server.close()
})

test('incoming peers are announced once ready, and serve both ways', async () => {
  const src = new MemorySource()
  const id = src.add('blob', Buffer.from('served by the dialer'))
  const server = new Transport({ accept: () => ({ infoHash: INFOHASH }) })
  const { port } = await server.listen()
  const announced = once(server, 'peer')
  const client = new Transport()
  await client.connect('127.0.0.1', port, { infoHash: INFOHASH, source: src })
  const [incoming] = await announced as [import('../../src/swarm/peer.ts').Peer]
  const r = await incoming.fetch([id])
  assert.equal(r.objects.get(id)?.data.toString(), 'served by the dialer')
  await client.close()
  await server.close()
})
