/**
 * What a requester checks while one request is answered (pure; no I/O).
 *
 * WantAssembly accepts an object only if it was asked for, or is a child of a
 * tree it already received and verified within the requested depth (the
 * server's breadth-first order guarantees a tree comes before its children, and
 * both sides derive children with codec-tree.ts under the same closure cap).
 * Chunks of one object must be contiguous and consistent; the whole object is
 * hashed before it is handed out. An object sent as a zlib stream (`zsize`,
 * only when we said we take them) is capped by its inflated size and zlib's
 * bound at its first chunk, inflated to exactly that size (never more), then
 * hashed; the stream comes along with it (`deflated`) for the store to keep as
 * is. Anything else is the peer's fault: ProtocolError (EPROTO, ECAP) or
 * IntegrityError (EBADHASH, EBADSIZE, EBADZLIB).
 *
 * RangeAssembly does the same for one `range` request: chunks of the asked
 * blob only, of the size the caller knows, contiguous from the range's start
 * to its end, and the range's SHA-256 (from the signed catalog) checked
 * before it is handed out.
 */
import { createHash } from 'node:crypto'
import { IntegrityError, ProtocolError } from '../errors.ts'
import { hashObject } from '../git/object-id.ts'
import type { GitObject, ObjectId, ObjectType } from '../types.ts'
import { treeChildren } from './codec-tree.ts'
import { decodeState, MAX_CLOSURE_OBJECTS, MAX_NON_BLOB_BYTES, MAX_STATE_BYTES, type ObjectMessage, type RepoState, type StateMessage } from './messages.ts'
import { inflateAndHash, inflateExact, zlibBound } from './zlib-object.ts'

/** A verified object; `deflated`: the zlib stream it came as (a valid pack entry's data). */
export interface ReceivedObject extends GitObject { id: ObjectId, deflated?: Buffer }

interface PartialObject {
  id: ObjectId
  type: ObjectType
  total: number
  got: number
  /**
   * `total` bytes, allocated at the first chunk and filled chunk by chunk:
   * what a peer makes us hold is what it sent, not twice that (chunks, then
   * their concatenation). A large allocation is mapped lazily: the pages a
   * liar never fills cost nothing.
   */
  data: Buffer
  /** the inflated size when the chunks are a zlib stream */
  zsize: number | undefined
}

export interface WantOptions {
  /**
   * The size an object must have when the caller knows it (a catalog lists
   * every file's size): a peer announcing another size is lying (EBADSIZE),
   * and is caught before it sends a byte more than the truth.
   */
  sizeOf?: (id: ObjectId) => number | undefined
  /** the closure asked for is trees only (`trees` in the want) */
  treesOnly?: boolean
  /**
   * Every object of this request is a commit, tree or tag (a directory
   * structure, an ancestry): a blob is a lie (EPROTO), and so is anything over
   * MAX_NON_BLOB_BYTES (ECAP), from the first chunk on. Without it, a peer
   * answering a tree request with a "blob" of 512 MiB was believed until the
   * last chunk (the hostile-peers test's reader peaked at 1.1 GiB).
   */
  nonBlobs?: boolean
  /** we said in hello that we take zlib streams; without it one is EPROTO */
  takesZlib?: boolean
}

export class WantAssembly {
  /** id → closure depth left, in the order the server walks them */
  private readonly expected = new Map<ObjectId, number>()
  private readonly received = new Set<ObjectId>()
  private readonly notHeld = new Set<ObjectId>()
  private current: PartialObject | null = null
  private readonly cap: number
  /**
   * false once the closure may lack something the trees received name: a tree
   * came at depth 0 (its children were not asked for), or malformed (no
   * children to read), or the cap stopped its children being expected
   */
  private followed = true
  bytes = 0

  readonly ids: readonly ObjectId[]

  private readonly sizeOf: ((id: ObjectId) => number | undefined) | undefined
  private readonly treesOnly: boolean
  private readonly nonBlobs: boolean
  private readonly takesZlib: boolean

  constructor (ids: readonly ObjectId[], readonly depth: number, readonly maxObjectBytes: number, opts: WantOptions = {}) {
    this.sizeOf = opts.sizeOf
    this.treesOnly = opts.treesOnly === true
    this.nonBlobs = opts.nonBlobs === true
    this.takesZlib = opts.takesZlib === true
    this.ids = [...new Set(ids)]
    for (const id of this.ids) this.expected.set(id, depth)
    this.cap = this.ids.length + MAX_CLOSURE_OBJECTS
  }

  get objects (): number { return this.received.size }

  /**
   * One chunk; returns the verified object when this chunk completes it, or
   * a promise of it when it came as a zlib stream (inflated and hashed on a
   * worker; the promise fails as this method throws, with the peer at fault).
   */
  accept (m: ObjectMessage): ReceivedObject | Promise<ReceivedObject> | null {
    let cur = this.current
    if (cur === null) {
      if (m.off !== 0) throw new ProtocolError('EPROTO', `object ${m.id} starts at offset ${m.off}`)
      if (!this.expected.has(m.id)) throw new ProtocolError('EPROTO', `object ${m.id} was not asked for`)
      if (this.received.has(m.id)) throw new ProtocolError('EPROTO', `object ${m.id} sent twice`)
      if (m.zsize !== undefined && !this.takesZlib) throw new ProtocolError('EPROTO', `object ${m.id} sent as a zlib stream, which we did not offer to take`)
      const announced = m.zsize ?? m.total
      if (announced > this.maxObjectBytes) throw new ProtocolError('ECAP', `object ${m.id} of ${announced} bytes, cap ${this.maxObjectBytes}`)
      if (m.type === 'blob' && this.nonBlobs) throw new ProtocolError('EPROTO', `object ${m.id} sent as a blob; a commit, tree or tag was asked for`)
      if (m.type !== 'blob' && announced > MAX_NON_BLOB_BYTES) throw new ProtocolError('ECAP', `${m.type} ${m.id} of ${announced} bytes, cap ${MAX_NON_BLOB_BYTES}`)
      if (m.zsize !== undefined && m.total > zlibBound(m.zsize)) throw new ProtocolError('ECAP', `object ${m.id}: zlib stream of ${m.total} bytes for ${m.zsize}`)
      const size = this.sizeOf?.(m.id)
      if (size !== undefined && size !== announced) throw new IntegrityError(`peer sent object ${m.id} as ${announced} bytes; it has ${size}`, { code: 'EBADSIZE' })
      if (m.data.length === m.total && this.forWorker(m.id, m.type, m.zsize)) {
        // A whole zlib stream in one message: the worker's batch copies the
        // view before this returns, so no buffer of its own (one allocation
        // and one copy per object less)
        this.bytes += m.total
        return this.toWorker(m.id, m.type, m.data, m.zsize)
      }
      cur = this.current = { id: m.id, type: m.type, total: m.total, got: 0, data: Buffer.allocUnsafeSlow(m.total), zsize: m.zsize }
    } else if (m.id !== cur.id || m.type !== cur.type || m.total !== cur.total || m.zsize !== cur.zsize) {
      throw new ProtocolError('EPROTO', `object ${m.id} interleaved with unfinished ${cur.id}`)
    } else if (m.off !== cur.got) {
      throw new ProtocolError('EPROTO', `object ${m.id}: chunk at ${m.off}, expected ${cur.got}`)
    }
    if (m.data.length > cur.total - cur.got) throw new ProtocolError('EPROTO', `object ${m.id}: chunk past its ${cur.total} bytes`)
    // a copy: the chunks are views into the wire's receive buffer
    cur.data.set(m.data, cur.got)
    cur.got += m.data.length
    this.bytes += m.data.length
    if (cur.got < cur.total) return null

    this.current = null
    if (this.forWorker(cur.id, cur.type, cur.zsize)) return this.toWorker(cur.id, cur.type, cur.data, cur.zsize)
    const deflated = cur.zsize === undefined ? undefined : cur.data
    const data = cur.zsize === undefined ? cur.data : inflateExact(cur.data, cur.zsize, `${cur.type} ${cur.id}`)
    const got = hashObject(cur.type, data)
    if (got !== cur.id) throw new IntegrityError(`peer sent ${cur.type} ${cur.id} whose bytes hash to ${got}`, { code: 'EBADHASH' })
    this.received.add(cur.id)
    const left = this.expected.get(cur.id) ?? 0
    if (left > 0 && cur.type === 'tree') {
      const children = treeChildren(data, this.treesOnly)
      if (children === null) this.followed = false
      for (const child of children ?? []) {
        if (this.expected.has(child.id)) continue
        if (this.expected.size >= this.cap) { this.followed = false; break }
        this.expected.set(child.id, child.tree ? left - 1 : 0)
      }
    } else if (cur.type === 'tree') {
      this.followed = false
    }
    return deflated === undefined ? { id: cur.id, type: cur.type, data } : { id: cur.id, type: cur.type, data, deflated }
  }

  /**
   * Whether an object is inflated and hashed on the worker: one sent as a zlib
   * stream, except a tree whose children come next (done here, in accept).
   */
  private forWorker (id: ObjectId, type: ObjectType, zsize: number | undefined): zsize is number {
    return zsize !== undefined && !(type === 'tree' && (this.expected.get(id) ?? 0) > 0)
  }

  private toWorker (id: ObjectId, type: ObjectType, stream: Buffer, zsize: number): Promise<ReceivedObject> {
    this.received.add(id)
    if (type === 'tree') this.followed = false // at depth 0: see forWorker
    return inflateAndHash(type, id, stream, zsize).then(r => ({ id, type, data: r.data, deflated: r.stream }))
  }

  dontHave (ids: readonly ObjectId[]): void {
    for (const id of ids) if (this.expected.has(id) && !this.received.has(id)) this.notHeld.add(id)
  }

  /**
   * At `done`: the requested ids the peer said it does not have. A requested id
   * that neither arrived nor was disclaimed is a lie by omission (EPROTO): an
   * honest server lists every id it skips in `dont-have`.
   */
  finish (): ObjectId[] {
    if (this.current !== null) throw new ProtocolError('EPROTO', `done with object ${this.current.id} unfinished`)
    const missing = this.ids.filter(id => !this.received.has(id))
    const omitted = missing.find(id => !this.notHeld.has(id))
    if (omitted !== undefined) throw new ProtocolError('EPROTO', `done without sending or disclaiming ${omitted}`)
    return missing
  }

  has (id: ObjectId): boolean { return this.received.has(id) }

  /**
   * After `finish`: whether the closure of a `want` with a depth arrived
   * whole, judged here, not by the peer's word: every object that a tree
   * received named (as far as the depth reached) came, no tree was left at
   * depth 0, none was malformed, the cap cut nothing. A walk of the structure
   * that follows would find every tree here (repo/swarm-repo.ts skips it).
   */
  get whole (): boolean {
    return this.depth > 0 && this.followed && this.received.size === this.expected.size
  }
}

export class RangeAssembly {
  private readonly parts: Buffer[] = []
  private got = 0
  private notHeld = false
  bytes = 0
  /** the verified bytes, once complete */
  result: Buffer | null = null

  constructor (readonly id: ObjectId, readonly off: number, readonly len: number, readonly size: number, readonly sha256: string) {}

  /** One chunk; returns the verified range when this chunk completes it. */
  accept (m: ObjectMessage): Buffer | null {
    const where = `range ${this.off}+${this.len} of ${this.id}`
    if (m.id !== this.id || m.type !== 'blob') throw new ProtocolError('EPROTO', `${m.type} ${m.id} sent for ${where}`)
    if (m.zsize !== undefined) throw new ProtocolError('EPROTO', `${where} sent as a zlib stream`)
    if (m.total !== this.size) throw new IntegrityError(`peer sent ${where} of a ${m.total}-byte blob; it has ${this.size}`, { code: 'EBADSIZE' })
    if (m.off !== this.off + this.got) throw new ProtocolError('EPROTO', `${where}: chunk at ${m.off}, expected ${this.off + this.got}`)
    if (this.got + m.data.length > this.len) throw new ProtocolError('EPROTO', `${where}: chunk runs past the range`)
    if (this.got === this.len) throw new ProtocolError('EPROTO', `${where} sent twice`)
    this.parts.push(m.data)
    this.got += m.data.length
    this.bytes += m.data.length
    if (this.got < this.len) return null
    const data = Buffer.concat(this.parts, this.len) // a copy: chunks are views of the receive buffer
    this.parts.length = 0
    const got = createHash('sha256').update(data).digest('hex')
    if (got !== this.sha256) throw new IntegrityError(`peer sent ${where} whose bytes hash to ${got}, the catalog says ${this.sha256}`, { code: 'EBADHASH' })
    this.result = data
    return data
  }

  dontHave (ids: readonly ObjectId[]): void {
    if (ids.includes(this.id) && this.got === 0) this.notHeld = true
  }

  /** At `done`: true when the range came, false when the peer said it does not have the blob. */
  finish (): boolean {
    if (this.got === this.len) return true
    if (this.notHeld && this.got === 0) return false
    throw new ProtocolError('EPROTO', `done with range ${this.off}+${this.len} of ${this.id} at ${this.got} bytes, not disclaimed`)
  }
}

export class StateAssembly {
  /** allocated at the first chunk, as PartialObject.data */
  private data: Buffer | null = null
  private got = 0

  accept (m: StateMessage): void {
    if (this.data === null) {
      if (m.off !== 0) throw new ProtocolError('EPROTO', `state starts at offset ${m.off}`)
      if (m.total > MAX_STATE_BYTES) throw new ProtocolError('ECAP', `state of ${m.total} bytes`)
      this.data = Buffer.allocUnsafeSlow(m.total)
    } else if (m.total !== this.data.length || m.off !== this.got) {
      throw new ProtocolError('EPROTO', `state chunk at ${m.off}/${m.total}, expected ${this.got}/${this.data.length}`)
    }
    if (m.data.length > this.data.length - this.got) throw new ProtocolError('EPROTO', `state chunk past its ${this.data.length} bytes`)
    this.data.set(m.data, this.got)
    this.got += m.data.length
  }

  /** At `done`: the state, or null when the peer sent none (it does not serve the repo). */
  finish (): RepoState | null {
    if (this.data === null) return null
    if (this.got !== this.data.length) throw new ProtocolError('EPROTO', `state ended at ${this.got} of ${this.data.length} bytes`)
    return decodeState(this.data)
  }
}
