/**
 * What this node serves to peers: objects from gtfs's own store (what it
 * fetched or was given) and from the git repositories it publishes, read-only.
 * Nothing is copied: a publisher serves straight from its repository.
 */
import { NotFoundError } from '../errors.ts'
import type { GitObjectStore } from '../store/object-store.ts'
import type { AbortOptions, GitObject, ObjectId, ObjectSource } from '../types.ts'

export class UnionSource implements ObjectSource {
  constructor (private readonly stores: () => GitObjectStore[]) {}

  async has (id: ObjectId): Promise<boolean> {
    for (const s of this.stores()) if (await s.has(id)) return true
    return false
  }

  async read (id: ObjectId, opts?: AbortOptions): Promise<GitObject> {
    for (const s of this.stores()) {
      if (await s.has(id)) return await s.read(id, opts)
    }
    throw new NotFoundError(`object ${id} is not held here`)
  }

  async readRange (id: ObjectId, off: number, len: number): Promise<{ size: number, data: Buffer }> {
    for (const s of this.stores()) {
      if (await s.has(id)) return await s.readRange(id, off, len)
    }
    throw new NotFoundError(`object ${id} is not held here`)
  }
}
