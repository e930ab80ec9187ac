/** xorshift32: a small seeded generator, so that a failing fuzz or fault run can be replayed. */
export function rng (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 0x100000000 }
}
