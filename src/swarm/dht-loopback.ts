/**
 * A DHT network of N nodes on 127.0.0.1, for tests, the demo and the
 * `dht-resolve` benchmark: node 0 starts with `bootstrap: false`, every other
 * node bootstraps from `127.0.0.1:<port of node 0>` (as webtorrent's DHT tests
 * do). No packet leaves loopback.
 */
import { performance } from 'node:perf_hooks'
import { generateKeypair } from './ed25519.ts'
import { SwarmDht, type SwarmDhtOptions } from './dht.ts'

export interface LoopbackDht {
  /** `127.0.0.1:<port>` of node 0, for --bootstrap / GTFS_BOOTSTRAP */
  bootstrap: string
  nodes: SwarmDht[]
  /** stops every node (in parallel); idempotent */
  stop: () => Promise<void>
}

export interface LoopbackOptions {
  /** options for every node; `nodeOptions(i)` is merged over them */
  options?: SwarmDhtOptions
  nodeOptions?: (i: number) => SwarmDhtOptions
  /** nodes started at once after node 0 (default 10): later nodes find a fuller table */
  batch?: number
}

export async function startLoopbackDht (n: number, opts: LoopbackOptions = {}): Promise<LoopbackDht> {
  if (!Number.isInteger(n) || n < 1) throw new RangeError('a loopback DHT needs at least one node')
  const make = (i: number): SwarmDht => new SwarmDht({ ...opts.options, ...opts.nodeOptions?.(i) })
  const nodes: SwarmDht[] = []
  const stop = async (): Promise<void> => { await Promise.all(nodes.map(async d => { await d.stop() })) }
  try {
    const first = make(0)
    nodes.push(first)
    const a = await first.start({ host: '127.0.0.1', port: 0, bootstrap: false })
    const bootstrap = `127.0.0.1:${a.port}`
    const batch = Math.max(1, opts.batch ?? 10)
    for (let i = 1; i < n; i += batch) {
      const group: SwarmDht[] = []
      for (let j = i; j < Math.min(n, i + batch); j++) group.push(make(j))
      nodes.push(...group)
      await Promise.all(group.map(async d => await d.start({ host: '127.0.0.1', port: 0, bootstrap })))
    }
    return { bootstrap, nodes, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

export interface ResolveMeasurement {
  nodes: number
  rounds: number
  /** rounds whose get returned the pointer just put */
  found: number
  p50Ms: number
  p90Ms: number
  maxMs: number
  /** milliseconds to start the whole network */
  startMs: number
}

function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!
}

/**
 * Times "resolve a pointer" on an N-node loopback DHT: node 1 puts a
 * pointer, then each round another node (round-robin over the rest) gets it
 * with `cache: false`, i.e. a full iterative BEP44 lookup. Every round puts
 * a new seq first, so a round only counts as found when it sees that seq.
 */
export async function measureDhtResolve (opts: { nodes?: number, rounds?: number } = {}): Promise<ResolveMeasurement> {
  const n = opts.nodes ?? 50
  const rounds = opts.rounds ?? 20
  if (n < 3) throw new RangeError('measureDhtResolve needs at least 3 nodes')
  const t0 = performance.now()
  const net = await startLoopbackDht(n)
  const startMs = performance.now() - t0
  try {
    const kp = generateKeypair()
    const publisher = net.nodes[1]!
    const times: number[] = []
    let found = 0
    for (let r = 0; r < rounds; r++) {
      const seq = r + 1
      const manifestHash = Buffer.alloc(32, seq).toString('hex')
      await publisher.putPointer(kp, { manifestHash, seq })
      const reader = net.nodes[2 + (r % (n - 2))]!
      const t = performance.now()
      const got = await reader.getPointer(kp.publicKey)
      times.push(performance.now() - t)
      if (got?.seq === seq && got.manifestHash === manifestHash) found++
    }
    times.sort((x, y) => x - y)
    return { nodes: n, rounds, found, p50Ms: percentile(times, 0.5), p90Ms: percentile(times, 0.9), maxMs: times[times.length - 1] ?? NaN, startMs }
  } finally {
    await net.stop()
  }
}
