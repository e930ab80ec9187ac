/**
 * Peers of one repo's swarm in one process, each on its own TCP port and
 * announced in the loopback DHT (GTFS_BOOTSTRAP): honest seeders and hostile
 * ones. Every peer speaks the real wire protocol (bittorrent-protocol + the
 * gtfs BEP10 extension, src/swarm/); the hostile kinds lie inside it.
 *
 *   node --import tsx test/helpers/swarm-peers.ts <repo key> <kind>[,<kind>…] [--objects <git objects dir>] [--ports p1,p2,…] [--rate bytes/s]
 *
 * honest     serves the objects of --objects (no signed state)
 * nothave    says it has nothing (dont-have) for every request; not a fault
 * corrupt    claims every object and sends bytes that do not hash to its id (EBADHASH)
 * wrongsize  claims every object and sends 100 000 bytes of it (EBADSIZE, or EBADHASH)
 * endless    answers with an object (or state) of the largest size allowed, and sends chunks until dropped
 * bigframe   answers with a frame whose length prefix is over the cap, and no body (ECAP)
 * drip       answers with the start of a frame, then one byte per second (ETIMEOUT ×3)
 * falsehave  says `done` to every want without sending or disclaiming the ids (EPROTO)
 * garbage    answers with bencode that does not parse (EPROTO)
 * outoforder answers with a chunk that does not start at offset 0 (EPROTO)
 *
 * --rate caps what each peer uploads, bytes/s (the daemon's GTFS_UPLOAD_RATE bucket).
 * --ports listens on the given ports (a restarted seeder comes back where the
 * DHT said it was). Prints {"port": first port, "peers": [{kind, port}]} once
 * every peer is announced; runs until stdin closes.
 */
import { SwarmDht } from '../../src/swarm/dht.ts'
import { swarmInfohash } from '../../src/swarm/infohash.ts'
import { CHUNK_BYTES, decodeMessage, encodeMessage, MAX_FRAME_BYTES, MAX_OBJECT_BYTES, MAX_STATE_BYTES, type Message } from '../../src/swarm/messages.ts'
import type { Peer } from '../../src/swarm/peer.ts'
import type { StateSource } from '../../src/swarm/server.ts'
import { TokenBucket } from '../../src/swarm/rate-limit.ts'
import { Transport } from '../../src/swarm/transport.ts'
import { GitObjectStore } from '../../src/store/object-store.ts'
import type { GitObject, ObjectSource } from '../../src/types.ts'

const args = process.argv.slice(2)
const flag = (name: string): string | undefined => { const i = args.indexOf(name); return i < 0 ? undefined : args[i + 1] }
const [repo, kindList = 'corrupt'] = args
const kinds = kindList.split(',')
const ports = (flag('--ports') ?? '').split(',').filter(p => p !== '').map(Number)
const objects = flag('--objects')
const rate = flag('--rate')
const infoHash = swarmInfohash(repo)

const never = new Promise<never>(() => {})
const silent: ObjectSource = { read: async () => await never, has: async () => true }
const noState: StateSource = { state: async () => null }
const store = objects === undefined ? null : await GitObjectStore.open(objects)

/** What a kind serves through the ordinary server (ObjectServer): honest data or lies in valid messages. */
function sourceOf (kind: string): { source: ObjectSource, state: StateSource } {
  switch (kind) {
    case 'honest':
      if (store === null) throw new Error('honest peers need --objects')
      return { source: store, state: noState }
    case 'nothave':
      return { source: { read: async (): Promise<GitObject> => { throw Object.assign(new Error('no'), { code: 'ENOTFOUND' }) }, has: async () => false }, state: noState }
    case 'corrupt':
      return { source: { read: async (): Promise<GitObject> => ({ type: 'blob', data: Buffer.from('corrupted bytes') }), has: async () => true }, state: { state: async () => ({ bundle: Buffer.from('not a bundle') }) } }
    case 'wrongsize':
      return { source: { read: async (): Promise<GitObject> => ({ type: 'blob', data: Buffer.alloc(100_000, 0x61) }), has: async () => true }, state: noState }
    default:
      // raw kinds: the server never answers; the lie is written by hand below
      return { source: silent, state: { state: async () => await never } }
  }
}

function frame (ext: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(6)
  head.writeUInt32BE(payload.length + 2, 0)
  head[4] = 20
  head[5] = ext
  return Buffer.concat([head, payload])
}

/** The hand-written answer of a raw kind to one request. */
async function lie (kind: string, peer: Peer, m: Message): Promise<void> {
  if (m.t !== 'want' && m.t !== 'state-req') return
  const wire = peer.wire
  const ext = wire.peerExtendedMapping.gtfs
  const send = (msg: Message): void => { wire.extended(ext, encodeMessage(msg)) }
  switch (kind) {
    case 'endless': {
      const data = Buffer.alloc(CHUNK_BYTES, 0x7a)
      for (let off = 0; !peer.closed; off += CHUNK_BYTES) {
        if (m.t === 'want') send({ t: 'object', r: m.r, id: m.ids[0], type: 'blob', off, total: MAX_OBJECT_BYTES, data })
        else send({ t: 'state', r: m.r, off, total: MAX_STATE_BYTES, data })
        await wire.drained()
        await new Promise(resolve => setImmediate(resolve))
      }
      return
    }
    case 'bigframe': {
      const head = Buffer.alloc(6)
      head.writeUInt32BE(MAX_FRAME_BYTES * 256, 0)
      head[4] = 20
      head[5] = ext
      wire.push(head)
      return
    }
    case 'drip': {
      const whole = frame(ext, encodeMessage(m.t === 'want'
        ? { t: 'object', r: m.r, id: m.ids[0], type: 'blob', off: 0, total: 1000, data: Buffer.alloc(1000) }
        : { t: 'state', r: m.r, off: 0, total: 1000, data: Buffer.alloc(1000) }))
      for (let i = 0; i < whole.length - 1 && !peer.closed; i++) {
        wire.push(whole.subarray(i, i + 1))
        await new Promise(resolve => setTimeout(resolve, 1000))
      }
      return
    }
    case 'falsehave':
      // for a want: a lie by omission; for state: "not served", which is allowed
      send({ t: 'done', r: m.r, truncated: false })
      return
    case 'garbage':
      wire.extended(ext, Buffer.from('d1:t5:state1:ri'))
      return
    case 'outoforder':
      if (m.t === 'want') send({ t: 'object', r: m.r, id: m.ids[0], type: 'blob', off: 1, total: 2, data: Buffer.from('x') })
      else send({ t: 'state', r: m.r, off: 1, total: 2, data: Buffer.from('x') })
  }
}

const transports: Transport[] = []
const listening: Array<{ kind: string, port: number }> = []
for (const [i, kind] of kinds.entries()) {
  const { source, state } = sourceOf(kind)
  const limiter = rate === undefined ? undefined : new TokenBucket(Number(rate))
  const transport = new Transport({
    host: '127.0.0.1',
    port: ports[i] ?? 0,
    accept: h => h === infoHash.toString('hex') ? { infoHash, repoKeys: [repo], source, state, limiter } : null
  })
  transport.on('warning', () => {})
  if (!['honest', 'nothave', 'corrupt', 'wrongsize'].includes(kind)) {
    transport.on('peer', (peer: Peer) => {
      peer.on('warning', () => {})
      peer.wire.on('extended', (name: string, buf: Buffer) => {
        if (name !== 'gtfs') return
        let m: Message
        try { m = decodeMessage(buf) } catch { return }
        void lie(kind, peer, m).catch(() => {})
      })
    })
  }
  listening.push({ kind, port: (await transport.listen()).port })
  transports.push(transport)
}
const dht = new SwarmDht({})
await dht.start({ host: '127.0.0.1', port: 0 })
for (const p of listening) await dht.announce(infoHash, p.port)
process.stdout.write(JSON.stringify({ port: listening[0].port, peers: listening }) + '\n')
process.stdin.resume()
process.stdin.on('end', () => {
  void Promise.all([...transports.map(async t => { await t.close() }), dht.stop(), store?.close()]).then(() => process.exit(0))
})
