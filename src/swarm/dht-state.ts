/**
 * What a DHT node keeps between runs, as small JSON files whose paths are
 * handed in (suggested: `dhtStateFiles(paths().state)`):
 *
 * - the routing table (BEP5 recommends reusing it): `{ version: 1, nodes:
 *   [{ host, port, id }] }`, written on stop. Node ids are kept so a restart
 *   puts the nodes straight into the table and its first lookup asks them,
 *   without a ping round first. The `toJSON().nodes` form of bittorrent-dht
 *   (no ids) is read too. A cache: unreadable means empty, never an error.
 * - the pointer seqs this node published: `{ version: 1, pointers: { <public
 *   key hex>: { seq, manifestHash } } }`, written before a put leaves the
 *   machine, so a restart never republishes a lower seq. Unreadable is
 *   EDHTSTATE, not a silent reset.
 *
 * Writes are crash-safe: temp file, fsync, rename, fsync of the directory.
 */
import { isIPv4 } from 'node:net'
import { join } from 'node:path'
import { readFileCapped, writeFileAtomic } from '../atomic-file.ts'
import { GtfsError } from '../errors.ts'
import { logger } from '../log.ts'
import { checkPointer, type Pointer } from './pointer.ts'

const log = logger('gtfs:swarm:dht-state')

/** bytes; a full mainline routing table is a few hundred nodes */
const MAX_STATE_FILE_BYTES = 4 * 2 ** 20
/** routing table entries kept on disk */
export const MAX_SAVED_NODES = 1000

export interface SavedNode {
  host: string
  port: number
  /** 20-byte node id, when known */
  id?: Buffer
}

export function dhtStateFiles (stateDir: string): { routingTable: string, pointers: string } {
  return { routingTable: join(stateDir, 'dht-nodes.json'), pointers: join(stateDir, 'dht-pointers.json') }
}

export async function writeJsonAtomic (path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value) + '\n', { mode: 0o600, dirMode: 0o700 })
}

/** The parsed JSON, or null when the file does not exist. */
async function readJson (path: string): Promise<unknown> {
  const bytes = await readFileCapped(path, MAX_STATE_FILE_BYTES, path)
  return bytes === null ? null : JSON.parse(bytes.toString('utf8'))
}

function toSavedNode (x: unknown): SavedNode | null {
  if (x === null || typeof x !== 'object') return null
  const { host, port, id } = x as Record<string, unknown>
  if (typeof host !== 'string' || !isIPv4(host)) return null
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return null
  if (typeof id === 'string' && /^[0-9a-f]{40}$/.test(id)) return { host, port, id: Buffer.from(id, 'hex') }
  return { host, port }
}

export async function loadRoutingTable (path: string): Promise<SavedNode[]> {
  let data: unknown
  try {
    data = await readJson(path)
  } catch (err) {
    log('ignoring unreadable routing table %s: %s', path, (err as Error).message)
    return []
  }
  if (data === null) return []
  const nodes = (data as { nodes?: unknown })?.nodes
  if (!Array.isArray(nodes)) {
    log('ignoring routing table %s: no nodes list', path)
    return []
  }
  const out: SavedNode[] = []
  for (const n of nodes.slice(0, MAX_SAVED_NODES)) {
    const node = toSavedNode(n)
    if (node !== null) out.push(node)
  }
  return out
}

export async function saveRoutingTable (path: string, nodes: readonly SavedNode[]): Promise<void> {
  const list = nodes.slice(0, MAX_SAVED_NODES).map(n => n.id === undefined ? { host: n.host, port: n.port } : { host: n.host, port: n.port, id: n.id.toString('hex') })
  await writeJsonAtomic(path, { version: 1, nodes: list })
}

/**
 * The last pointer this node published per public key, in memory and (when
 * a file is given) on disk. `record` persists before it returns; writes are
 * serialised so the file always holds the latest map.
 */
export class PointerSeqStore {
  private readonly file: string | undefined
  private readonly map = new Map<string, Pointer>()
  private loaded = false
  private writing: Promise<void> = Promise.resolve()

  constructor (file?: string) {
    this.file = file
  }

  async load (): Promise<void> {
    if (this.loaded) return
    if (this.file !== undefined) {
      let data: unknown
      try {
        data = await readJson(this.file)
      } catch (cause) {
        throw this.corrupt(cause)
      }
      if (data !== null) {
        const ptrs = (data as { pointers?: unknown })?.pointers
        if (ptrs === null || typeof ptrs !== 'object' || Array.isArray(ptrs)) throw this.corrupt()
        for (const [pk, p] of Object.entries(ptrs)) {
          if (!/^[0-9a-f]{64}$/.test(pk)) throw this.corrupt()
          try {
            this.map.set(pk, checkPointer(p as Pointer))
          } catch (cause) {
            throw this.corrupt(cause)
          }
        }
      }
    }
    this.loaded = true
  }

  private corrupt (cause?: unknown): GtfsError {
    return new GtfsError('EDHTSTATE', `the pointer state file ${String(this.file)} cannot be read back`, {
      cause,
      hint: 'it only guards against republishing a lower seq; move it away to start afresh'
    })
  }

  get (publicKeyHex: string): Pointer | undefined {
    return this.map.get(publicKeyHex)
  }

  /**
   * Makes `p` the published pointer of the key, persisted before it returns.
   * 'same' when exactly `p` was published before (a republish); EPOINTERSEQ
   * for a lower seq, or the same seq with another manifest (equivocation).
   * Checked and written inside one serialised step, so concurrent calls
   * cannot both win.
   */
  async advance (publicKeyHex: string, p: Pointer): Promise<'new' | 'same'> {
    const step = this.writing.catch(() => {}).then(async (): Promise<'new' | 'same'> => {
      const prev = this.map.get(publicKeyHex)
      if (prev !== undefined) {
        if (prev.seq > p.seq) {
          throw new GtfsError('EPOINTERSEQ', `pointer seq ${p.seq} is lower than seq ${prev.seq} already published with this key`, { hint: `publish with a seq above ${prev.seq}` })
        }
        if (prev.seq === p.seq) {
          if (prev.manifestHash === p.manifestHash) return 'same'
          throw new GtfsError('EPOINTERSEQ', `pointer seq ${p.seq} was already published with this key for manifest ${prev.manifestHash}`, { hint: `publish with a seq above ${prev.seq}` })
        }
      }
      const next = new Map(this.map).set(publicKeyHex, { manifestHash: p.manifestHash, seq: p.seq })
      if (this.file !== undefined) await writeJsonAtomic(this.file, { version: 1, pointers: Object.fromEntries(next) })
      this.map.set(publicKeyHex, { manifestHash: p.manifestHash, seq: p.seq })
      return 'new'
    })
    this.writing = step.then(() => {}, () => {})
    return await step
  }
}
