/**
 * Concurrent calls for one key share one promise (CernVM-FS merges concurrent
 * downloads of one object the same way). The entry is removed when it settles,
 * so a failure is not cached.
 */
export class SingleFlight<K, V> {
  private readonly inflight = new Map<K, Promise<V>>()

  run (key: K, fn: () => Promise<V>): Promise<V> {
    const running = this.inflight.get(key)
    if (running !== undefined) return running
    const p = fn().finally(() => { this.inflight.delete(key) })
    this.inflight.set(key, p)
    return p
  }

  get size (): number { return this.inflight.size }
}
