/**
 * A ViewSource over gtfs's own store that fetches what is missing from the
 * swarm, hash-verified, and keeps it: the next reader of this node, or of a
 * peer that asks this node, gets it from here. A local object that fails its
 * check is removed and fetched again.
 */
import { isGtfsError } from '../errors.ts'
import { chunkHash, type ChunkHashes } from '../git/catalog.ts'
import type { BlobContent, GitObjectStore } from '../store/object-store.ts'
import { ChunkedBlob } from './chunked-blob.ts'
import type { AbortOptions, ChunkSpec, GitObject, ObjectId } from '../types.ts'
import { logger } from '../log.ts'
import type { ViewSource } from './commit-view.ts'

const log = logger('gtfs:repo:swarm-source')

/** ids per fetch of an ordered prefetch, and such fetches out at once */
const PREFETCH_CHUNK = 128
const PREFETCH_PARALLEL = 4

/** How objects arrive: the swarm's fetcher, bound to one repo. */
export interface ObjectFetcher {
  /** with a depth, true when the closure under every id arrived whole (swarm/fetcher.ts); anything else is read as false */
  fetch (ids: ObjectId[], opts?: AbortOptions & { depth?: number, treesOnly?: boolean, nonBlobs?: boolean, sizeOf?: (id: ObjectId) => number | undefined, background?: boolean }): Promise<boolean | void>
  /** chunks of one large blob; without it large blobs come whole */
  fetchChunks?: (spec: ChunkSpec, indexes: number[], opts?: AbortOptions & { background?: boolean }) => Promise<void>
}

/** catalog sizes kept for blobs not fetched yet, at most (the oldest hints go first) */
const MAX_SIZE_HINTS = 65_536

export class SwarmSource implements ViewSource {
  /** blob id → its size in the signed catalog, until the blob is here */
  private readonly sizes = new Map<ObjectId, number>()
  /** every fetch bounds each object by its catalog size when one is known (EBADSIZE for a peer that lies) */
  private readonly sizeOf = (id: ObjectId): number | undefined => this.sizes.get(id)

  /** blob id → its chunk hashes in the signed catalog (see expectChunks) */
  private readonly chunked = new Map<ObjectId, { bytes: number, hashes: string }>()

  constructor (private readonly store: GitObjectStore, private readonly fetcher: ObjectFetcher) {}

  /**
   * The signed catalog's chunk hashes of a large blob about to be opened:
   * when it is not here, reads fetch only the chunks they need (chunked-blob.ts).
   */
  expectChunks (id: ObjectId, chunks: ChunkHashes): void {
    const hashes = chunks.hashes.get(id)
    if (hashes === undefined || this.chunked.has(id)) return
    if (this.chunked.size >= MAX_SIZE_HINTS) this.chunked.delete(this.chunked.keys().next().value!)
    this.chunked.set(id, { bytes: chunks.bytes, hashes })
  }

  /** Whether the store holds `id`. */
  async has (id: ObjectId): Promise<boolean> {
    return this.store.hasIndexed(id) || await this.store.has(id)
  }

  /** Of `ids`, those not in the store; what its in-memory index knows costs no await. */
  private async missing (ids: ObjectId[]): Promise<ObjectId[]> {
    const out: ObjectId[] = []
    for (const id of ids) if (!this.store.hasIndexed(id) && !(await this.store.has(id))) out.push(id)
    return out
  }

  expectSize (id: ObjectId, size: number): void {
    if (this.sizes.has(id)) return
    if (this.sizes.size >= MAX_SIZE_HINTS) this.sizes.delete(this.sizes.keys().next().value!)
    this.sizes.set(id, size)
  }

  private async fetch (ids: ObjectId[], opts: AbortOptions & { depth?: number, treesOnly?: boolean, nonBlobs?: boolean, background?: boolean } = {}): Promise<boolean> {
    const whole = await this.fetcher.fetch(ids, { ...opts, sizeOf: this.sizeOf })
    for (const id of ids) this.sizes.delete(id)
    return whole === true
  }

  /**
   * Fetches `ids` with the closure under them, `depth` levels (a peer has no
   * way to know which of its objects we hold already). True when the closure
   * arrived whole, as checked while it arrived (swarm/peer-request.ts
   * WantAssembly.whole): every tree it names is in the store now.
   */
  async fetchClosure (ids: ObjectId[], opts: AbortOptions & { depth: number, treesOnly?: boolean, nonBlobs?: boolean }): Promise<boolean> {
    return await this.fetch(ids, opts)
  }

  /**
   * Makes sure `ids` are in the store, fetching the missing ones in one batch.
   * With a depth, the closure under them is asked for as well (fetchClosure).
   * `nonBlobs`: the ids are commits, trees or tags (a peer that says otherwise
   * is dropped).
   */
  async ensure (ids: ObjectId[], opts: AbortOptions & { depth?: number, treesOnly?: boolean, nonBlobs?: boolean } = {}): Promise<void> {
    if ((opts.depth ?? 0) > 0) {
      await this.fetch(ids, opts)
      return
    }
    const missing = await this.missing(ids)
    if (missing.length > 0) await this.fetch(missing, opts)
  }

  /**
   * Starts fetching the missing ones among `ids`, and warming the others (the
   * store inflates them ahead of their open); never waits, never fails a caller.
   */
  prefetch (ids: ObjectId[]): void {
    void (async () => {
      const missing = await this.missing(ids)
      if (missing.length < ids.length) {
        const absent = new Set(missing)
        this.store.prefetch(missing.length === 0 ? ids : ids.filter(id => !absent.has(id)))
      }
      if (missing.length > 0) await this.fetch(missing, { background: true })
    })().catch((err: Error) => { log('prefetch of %d objects: %s', ids.length, err.message) })
  }

  /**
   * Fetches the missing ones among `ids` in this order (a catalog's prefetch
   * list): chunks of PREFETCH_CHUNK, at most PREFETCH_PARALLEL out at once, so
   * the first files arrive first and every peer has work. Never fails a caller.
   */
  prefetchInOrder (ids: readonly ObjectId[]): Promise<void> {
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < ids.length) {
        const chunk = ids.slice(next, next + PREFETCH_CHUNK)
        next += PREFETCH_CHUNK
        const missing = await this.missing(chunk)
        if (missing.length > 0) {
          await this.fetch(missing, { background: true }).catch((err: Error) => { log('prefetch of %d objects: %s', missing.length, err.message) })
        }
      }
    }
    return Promise.all(Array.from({ length: PREFETCH_PARALLEL }, worker)).then(() => {})
  }

  /** The store this fetches into: its reads see what was fetched and is still held in memory. */
  get objects (): GitObjectStore { return this.store }

  async hasLocally (id: ObjectId): Promise<boolean> {
    return await this.store.has(id)
  }

  async read (id: ObjectId, opts?: AbortOptions): Promise<GitObject> {
    return await this.local(id, opts, async () => await this.store.read(id, opts))
  }

  /** `read` at once when the object is in memory (GitObjectStore.readNow), else undefined. */
  readNow (id: ObjectId): GitObject | undefined {
    return this.store.readNow(id)
  }

  async size (id: ObjectId, opts?: AbortOptions): Promise<number> {
    return await this.local(id, opts, async () => await this.store.size(id))
  }

  /** The store's blob in memory, at once (a blob read in chunks never is: see openChunked); else null. */
  openBlobNow (id: ObjectId): BlobContent | null {
    return this.chunked.has(id) ? null : this.store.openBlobNow(id)
  }

  sizeNow (id: ObjectId): number | null {
    return this.store.sizeNow(id)
  }

  async openBlob (id: ObjectId, opts?: AbortOptions): Promise<BlobContent> {
    const chunked = await this.openChunked(id)
    if (chunked !== null) return chunked
    return await this.local(id, opts, async () => await this.store.openBlob(id))
  }

  /** A large blob that is not here and has chunk hashes: read chunk by chunk, or null. */
  private async openChunked (id: ObjectId): Promise<BlobContent | null> {
    const c = this.chunked.get(id)
    const size = this.sizes.get(id)
    const fetchChunks = this.fetcher.fetchChunks
    if (c === undefined || size === undefined || fetchChunks === undefined || await this.store.has(id)) return null
    const count = Math.ceil(size / c.bytes)
    if (c.hashes.length !== count * 64) {
      log('catalog chunks of %s do not fit its size %d; fetching it whole', id, size)
      return null
    }
    const hashes = Array.from({ length: count }, (_, i) => chunkHash(c.hashes, i)!)
    const partial = await this.store.openPartial({ id, size, chunkBytes: c.bytes, hashes })
    const spec: ChunkSpec = { id, size, chunkBytes: c.bytes, hash: i => hashes[i], write: async (i, data) => { await partial.write(i, data, { verified: true }) } }
    const blob = new ChunkedBlob(this.store, partial, async (indexes, o) => { await fetchChunks(spec, indexes, o) },
      async o => await this.local(id, o, async () => await this.store.openBlob(id)))
    return { kind: 'file', blob, release: async () => { await blob.release() } }
  }

  private async local<T> (id: ObjectId, opts: AbortOptions | undefined, use: () => Promise<T>): Promise<T> {
    if ((await this.missing([id])).length > 0) await this.fetch([id], opts)
    try {
      return await use()
    } catch (err) {
      if (!isGtfsError(err, 'EBADHASH') && !isGtfsError(err, 'EMALFORMED')) throw err
      // Torn or corrupted on disk: drop it and take a verified copy from the swarm.
      await this.store.evict(id)
      await this.fetch([id], opts)
      return await use()
    }
  }
}
