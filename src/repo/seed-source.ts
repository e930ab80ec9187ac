/**
 * What this node serves to peers: objects from gtfs's own store (what it
 * fetched or was given) and from the git repositories it publishes, read-only.
 * Nothing is copied: a publisher serves straight from its repository.
 */
import { NotFoundError } from '../errors.ts'
import type { GitObjectStore } from '../store/object-store.ts'
import type { AbortOptions, DeflatedObject, GitObject, ObjectId, ObjectSource } from '../types.ts'

export class UnionSource implements ObjectSource {
  constructor (private readonly stores: () => GitObjectStore[]) {}

  async has (id: ObjectId): Promise<boolean> {
    return (await this.holder(id)) !== null
  }

  async read (id: ObjectId, opts?: AbortOptions): Promise<GitObject> {
    const s = await this.holder(id)
    if (s === null) throw new NotFoundError(`object ${id} is not held here`)
    return await s.read(id, opts)
  }

  /** The store holding `id`: what a store knows in memory first, so a publisher's pack is not preceded by a miss on disk in gtfs's store. */
  private async holder (id: ObjectId): Promise<GitObjectStore | null> {
    const stores = this.stores()
    for (const s of stores) if (s.hasIndexed(id)) return s
    for (const s of stores) if (await s.has(id)) return s
    return null
  }

  /** The stored zlib stream of `id`, when its holder keeps it as a whole pack entry. */
  async readDeflated (id: ObjectId): Promise<DeflatedObject | null> {
    const s = await this.holder(id)
    return s === null ? null : await s.readDeflated(id)
  }

  async readRange (id: ObjectId, off: number, len: number): Promise<{ size: number, data: Buffer }> {
    const s = await this.holder(id)
    if (s === null) throw new NotFoundError(`object ${id} is not held here`)
    return await s.readRange(id, off, len)
  }
}
