/**
 * Shared pieces of the wire tests: an in-memory ObjectSource, git object
 * builders, and peer pairs piped in memory (a.pipe(b).pipe(a), as
 * bittorrent-protocol's own tests do).
 */
import { createCipheriv, createHash } from 'node:crypto'
import { NotFoundError } from '../../../src/errors.ts'
import { hashObject } from '../../../src/git/object-id.ts'
import { Peer, type PeerOptions, type SwarmContext } from '../../../src/swarm/peer.ts'
import type { AbortOptions, GitObject, ObjectId, ObjectSource, ObjectType } from '../../../src/types.ts'

export class MemorySource implements ObjectSource {
  readonly objects = new Map<ObjectId, GitObject>()
  reads = 0

  add (type: ObjectType, data: Buffer): ObjectId {
    const id = hashObject(type, data)
    this.objects.set(id, { type, data })
    return id
  }

  async read (id: ObjectId, _opts?: AbortOptions): Promise<GitObject> {
    this.reads++
    const o = this.objects.get(id)
    if (o === undefined) throw new NotFoundError(`no object ${id}`)
    return o
  }

  async has (id: ObjectId): Promise<boolean> { return this.objects.has(id) }
}

/** A tree object from [mode, name, id] entries (git sorts them; tests pass them sorted). */
export function treeData (entries: Array<[string, string, ObjectId]>): Buffer {
  return Buffer.concat(entries.map(([mode, name, id]) => Buffer.concat([
    Buffer.from(`${mode} ${name}\0`), Buffer.from(id, 'hex')
  ])))
}

/** Deterministic pseudo-random bytes (an AES-CTR keystream keyed by the seed). */
export function bytes (n: number, seed = 1): Buffer {
  const key = createHash('sha256').update(`seed ${seed}`).digest()
  const c = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  return Buffer.concat([c.update(Buffer.alloc(n)), c.final()])
}

export const INFOHASH = Buffer.alloc(20, 7)

/**
 * A tree with `width` files per directory, `levels` deep.
 * Returns the root id and every id it holds.
 */
export function buildTree (src: MemorySource, levels: number, width: number, seed = 0): { root: ObjectId, all: ObjectId[] } {
  const all: ObjectId[] = []
  const make = (level: number, prefix: string): ObjectId => {
    const entries: Array<[string, string, ObjectId]> = []
    for (let i = 0; i < width; i++) {
      const id = src.add('blob', Buffer.from(`file ${prefix}/${i} seed ${seed}\n`))
      all.push(id)
      entries.push(['100644', `f${i}`, id])
    }
    if (level < levels) {
      const sub = make(level + 1, `${prefix}/d`)
      entries.push(['40000', 'sub', sub])
    }
    entries.sort((a, b) => a[1] < b[1] ? -1 : 1)
    const id = src.add('tree', treeData(entries))
    all.push(id)
    return id
  }
  const root = make(1, '')
  return { root, all }
}

export interface Pair { client: Peer, server: Peer }

/**
 * Two peers piped in memory; resolves once both hellos are exchanged. The
 * client's address (what a pool bans) is `name`: the server it talks to.
 */
export async function pair (ctx: Partial<SwarmContext> = {}, opts: Partial<PeerOptions> = {}, name = 'server'): Promise<Pair> {
  const context: SwarmContext = { infoHash: INFOHASH, ...ctx }
  const server = new Peer({ accept: h => h === INFOHASH.toString('hex') ? context : null, address: 'client', ...opts })
  const client = new Peer({ context: { infoHash: INFOHASH }, address: name, ...opts })
  client.wire.pipe(server.wire).pipe(client.wire)
  await Promise.all([client.whenReady(), server.whenReady()])
  return { client, server }
}
