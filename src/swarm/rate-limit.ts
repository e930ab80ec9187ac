/**
 * A token bucket for upload bytes, shared by every connection of a node: a
 * seeder that was asked to stay under N bytes/s does, whoever asks.
 */
export interface UploadLimiter {
  /** resolves when `bytes` may be sent */
  take (bytes: number): Promise<void>
}

export class TokenBucket implements UploadLimiter {
  private tokens: number
  private last = Date.now()
  private queue: Promise<void> = Promise.resolve()

  /** `rate` bytes per second; bursts up to `burst` bytes (default: a tenth of a second's worth, at least 64 KiB) */
  constructor (readonly rate: number, private readonly burst = Math.max(64 * 1024, rate / 10)) {
    this.tokens = this.burst
  }

  async take (bytes: number): Promise<void> {
    // Callers queue in order, so one large sender cannot starve the others.
    const turn = this.queue.then(async () => {
      this.refill()
      if (this.tokens < bytes) {
        await new Promise(resolve => setTimeout(resolve, Math.ceil((bytes - this.tokens) / this.rate * 1000)))
        this.refill()
      }
      this.tokens -= bytes
    })
    this.queue = turn.catch(() => {})
    await turn
  }

  private refill (): void {
    const now = Date.now()
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) / 1000 * this.rate)
    this.last = now
  }
}
