/**
 * How far V8 lets the daemon's old generation grow between two mark-compacts,
 * by what the daemon is doing: the `--heap-growing-percent` it was started
 * with (cli/daemon-client.ts DAEMON_NODE_FLAGS: 45, for the `rss` figure)
 * while it serves what it holds, FETCHING_GROWTH while objects arrive from
 * peers.
 *
 * Why. A cold read of the bench's wide tree (50,000 files from one seeder)
 * promotes ~180 MiB of per-object state (fetches and FUSE requests waiting on
 * the network outlive two scavenges). At 45 the old generation is allowed
 * ~20 MiB over a 40-55 MiB live heap, so V8 marked almost without pause: 37
 * mark-compacts in 10 s, 3.3-3.6 CPU-s on its helper thread on a two-core
 * machine the read keeps busy. Three interleaved pairs (2026-12-07, started
 * with 100 against 45): 9.31 / 9.19 / 9.39 s against 9.94 / 10.45 / 9.93 s,
 * the reader 12.3-12.7 CPU-s against 13.7-14.7, its GC thread 2.5 against
 * 3.1-3.6; peak RSS 261-287 MiB against 230-260. At 100 throughout, the
 * `rss` figure (a --git-dir mount reading 2 GiB, no fetching) went from 194
 * to 221 MiB (2026-12): hence only while fetching.
 *
 * V8 reads the flag each time it sets the next limit, after a GC; the switch
 * takes effect from the next one. A daemon started without the flag (by hand,
 * with flags of its own) is left as it is.
 *
 * The first decision waits FIRST_DECISION_MS: the daemon's entry sets the
 * flag back to V8's default as it starts (bin/dist.cjs restoreV8Defaults, for
 * node's code cache of its built-in modules, which V8 refuses under other
 * flags), so a daemon's start and a first mount compile no built-in module
 * from source. Until then V8's own heuristic paces the heap.
 */
import { setFlagsFromString } from 'node:v8'
import { logger } from '../log.ts'

const log = logger('gtfs:daemon:gc-pacing')

/** old-generation growth, percent, while objects arrive from peers */
export const FETCHING_GROWTH = 100

/** ms from the start of the pacing to its first decision (V8's default growth until then) */
export const FIRST_DECISION_MS = 1000

/** The `--heap-growing-percent` this process was started with, or null. */
export function startedGrowth (execArgv: readonly string[] = process.execArgv): number | null {
  for (const a of execArgv) {
    const m = /^--heap[-_]growing[-_]percent=(\d+)$/.exec(a)
    if (m !== null) return Number(m[1])
  }
  return null
}

export interface GcPacingOptions {
  /** whether objects are being fetched now */
  fetching: () => boolean
  /** how often to look, ms */
  everyMs?: number
  /** back to the resting growth after this long without fetching, ms */
  restAfterMs?: number
  /** the first decision after this long, ms (default FIRST_DECISION_MS) */
  firstMs?: number
  /** sets the flag (tests watch it) */
  set?: (percent: number) => void
}

export interface GcPacing {
  /** the growth set now, percent; null before the first decision (V8's default) and when the pacing is off (started without the flag) */
  readonly growth: number | null
  /** stops looking and restores the resting growth */
  stop: () => void
}

/**
 * From `firstMs` on, looks every `everyMs` whether the daemon fetches, and
 * sets the growth to match: the first look sets it either way. Does nothing
 * when the process was started without the flag, or with a growth as large.
 */
export function startGcPacing (o: GcPacingOptions, resting = startedGrowth()): GcPacing {
  if (resting === null || resting >= FETCHING_GROWTH) return { growth: null, stop: () => {} }
  const set = o.set ?? ((percent: number) => { setFlagsFromString(`--heap-growing-percent=${percent}`) })
  const restAfterMs = o.restAfterMs ?? 2000
  let growth: number | null = null
  let quietSince: number | null = null
  const to = (percent: number): void => {
    if (growth === percent) return
    growth = percent
    set(percent)
    log('heap growing percent %d', percent)
  }
  const look = (): void => {
    if (o.fetching()) {
      quietSince = null
      to(FETCHING_GROWTH)
      return
    }
    const now = Date.now()
    quietSince ??= now
    if (growth === null || now - quietSince >= restAfterMs) to(resting)
  }
  let timer: NodeJS.Timeout = setTimeout(() => {
    look()
    timer = setInterval(look, o.everyMs ?? 500)
    timer.unref()
  }, o.firstMs ?? FIRST_DECISION_MS)
  timer.unref()
  return {
    get growth () { return growth },
    stop: () => {
      clearTimeout(timer) // the first look's timeout, or the interval after it: node clears either
      to(resting)
    }
  }
}
