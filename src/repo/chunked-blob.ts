/**
 * Reads of a large blob that is not here yet, chunk by chunk: a read of
 * [off, off+len) waits only for the chunks covering it, fetched from any peer
 * that answers ranges (Fetcher.fetchChunks spreads them), each checked
 * against the signed catalog's SHA-256 and written into the store's partial
 * file (store/partial-blob.ts) before it is served. Chunks after the read are
 * fetched in the background: 2 at first, doubling up to READAHEAD_MAX_CHUNKS
 * while reads go on in order. When the last chunk is in, the partial file is
 * sealed into the loose object.
 *
 * When no peer answers ranges (older peers), the first read falls back to
 * fetching the whole blob, as without chunk hashes.
 */
import { isGtfsError } from '../errors.ts'
import { logger } from '../log.ts'
import type { BlobContent, BlobFile, GitObjectStore } from '../store/object-store.ts'
import type { PartialBlob } from '../store/partial-blob.ts'
import type { AbortOptions } from '../types.ts'

const log = logger('gtfs:repo:chunked-blob')

/** chunks fetched ahead of a sequential reader, at most */
export const READAHEAD_MAX_CHUNKS = 16

export type ChunkFetch = (indexes: number[], opts: AbortOptions & { background?: boolean }) => Promise<void>

export class ChunkedBlob implements BlobFile {
  private window = 0
  private next = -1
  private fallback: Promise<BlobContent> | null = null
  private released = false
  private closing = false
  /** background fetches under way: the partial file stays open for them */
  private busy = 0
  private sealed = false
  private sealing: Promise<void> | null = null
  /** a plain copy was asked for before the blob was complete: made once it is */
  private wantPlain = false

  constructor (
    private readonly store: GitObjectStore,
    private readonly partial: PartialBlob,
    private readonly fetchChunks: ChunkFetch,
    /** the whole blob fetched into the store and opened there */
    private readonly whole: (opts?: AbortOptions) => Promise<BlobContent>
  ) {}

  get size (): number { return this.partial.size }

  async read (buf: Buffer, length: number, position: number, opts?: AbortOptions): Promise<number> {
    const end = Math.min(position + length, this.size)
    if (position >= end) return 0
    if (this.fallback !== null) return await this.readWhole(buf, end - position, position)
    const cb = this.partial.spec.chunkBytes
    const first = Math.floor(position / cb)
    const last = Math.floor((end - 1) / cb)
    this.window = first === this.next || (first === this.next - 1) ? Math.min(READAHEAD_MAX_CHUNKS, Math.max(2, this.window * 2)) : 2
    this.next = last + 1
    const ahead = this.partial.missing(last + 1, last + this.window)
    if (ahead.length > 0) {
      this.busy++
      this.fetchChunks(ahead, { background: true }).then(async () => { await this.sealIfComplete() })
        .catch((err: Error) => { log('readahead of %s: %s', this.partial.id, err.message) })
        .finally(() => { this.busy--; void this.letGo() })
    }
    const need = this.partial.missing(first, last)
    if (need.length > 0) {
      try {
        await this.fetchChunks(need, opts ?? {})
      } catch (err) {
        if (!isGtfsError(err, 'ENOTFOUND')) throw err
        log('chunks of %s: %s; fetching it whole', this.partial.id, (err as Error).message)
        this.fallback ??= this.whole(opts)
        return await this.readWhole(buf, end - position, position)
      }
      void this.sealIfComplete()
    }
    return await this.partial.read(buf, end - position, position)
  }

  /** The store's plain copy once the blob is sealed (BlobFile.plainPath); asked for earlier, it is made at the seal. */
  plainPath (): string | undefined {
    if (this.fallback !== null) return undefined
    if (!this.sealed) { this.wantPlain = true; return undefined }
    return this.store.plainPath(this.partial.id, this.size)
  }

  async release (): Promise<void> {
    if (this.released) return
    this.released = true
    await this.letGo()
    const f = await this.fallback?.catch(() => null)
    if (f?.kind === 'file') await f.release()
  }

  private async letGo (): Promise<void> {
    if (!this.released || this.busy > 0 || this.closing) return
    this.closing = true
    await this.store.releasePartial(this.partial)
  }

  private async readWhole (buf: Buffer, length: number, position: number): Promise<number> {
    const c = await this.fallback!
    if (c.kind === 'buffer') return c.data.copy(buf, 0, position, position + length)
    return await c.blob.read(buf, length, position)
  }

  private async sealIfComplete (): Promise<void> {
    if (!this.partial.complete) return
    this.sealing ??= this.store.completePartial(this.partial).then(() => {
      this.sealed = true
      if (this.wantPlain) this.store.plainPath(this.partial.id, this.size)
    }, (err: Error) => {
      log('sealing %s: %s', this.partial.id, err.message)
      this.sealing = null
    })
    await this.sealing
  }
}
