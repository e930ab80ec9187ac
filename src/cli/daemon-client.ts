/**
 * The CLI's side of the daemon: ask it, and start it first when it is not running.
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Paths, Settings } from '../config.ts'
import { isGtfsError } from '../errors.ts'
import { spawnBackground } from '../daemon/background.ts'
import { isNoDaemon, request } from '../daemon/control-client.ts'
import { socketPath } from '../daemon/control-protocol.ts'

/** the daemon's own entry (cli/daemon-main.ts); `daemon` stays in its argv, which is how mount-registry knows the process */
const DAEMON_BIN = fileURLToPath(new URL('../../bin/gtfs-daemon.cjs', import.meta.url))

/**
 * How the daemon's process runs (its memory is the `rss` figure, target 200
 * MiB). Measured reading the bench's wide tree (50,000 files, 251 MiB of
 * pack) then the 512 MiB file, compiled dist/, peak RSS (VmHWM):
 *
 * - node's defaults: 194 MiB (after the fixes in fs/mount.ts and store/).
 * - `--max-semi-space-size=2` (MiB; node 20 grows it to 16, so a young
 *   generation of up to 48 MiB): at 1, on its own, 238 -> 220 MiB before
 *   those fixes, and with the next flag 174 -> 132 MiB. Later, with the
 *   deadline leak fixed (fs/deadline.ts), semi-space 1 / 2 / 4 / 16 MiB gave
 *   a peak of 171 / 183 / 188-192 / 214 MiB, a mount's first byte 1.38 /
 *   1.32 / 1.31 / 1.30 s (GC was 30% of the mounting daemon's CPU at 1) and
 *   a cold read of the wide tree 17.7 / 16.7 / 17.0 s: 2 is the knee.
 * - `--heap-growing-percent=45`: without it V8 let the old generation grow
 *   to 104 MiB (35 MiB alive) before its first full GC once pack blocks
 *   stopped being garbage (store/pack-file.ts). `--optimize-for-size`
 *   (127 MiB) does the same and more, at a cost in compiled code. It was 30
 *   until a reader fetching the wide tree from a swarm was measured doing a
 *   mark-compact every 150 ms (about 85 in a 14.5 s cold read; V8's helper
 *   threads alone used 5 s of CPU on two cores): each frees 2-3 MiB of a
 *   40-50 MiB heap, the per-object state of fetches in flight that outlives
 *   two scavenges. Cold reads of the wide tree from one seeder, run in
 *   pairs: 45 was faster in 7 of 7 pairs, by 0.2-2.0 s (medians 14.6 -> 13.5 s
 *   in one series, 15.6 -> 15.0 s in another), with 1-2 s less user CPU and
 *   54-65 mark-compacts instead of 76-92; peak RSS 218-235 MiB at 30,
 *   221-233 at 45. At 60: 50 mark-compacts, no faster than 45, 234-237 MiB.
 *   The `rss` figure (a --git-dir mount serving 2.4 GiB) did not move:
 *   186.2 MiB at 30, 186.3 at 60. It does at 100 (2026-12, one hour):
 *   171 MiB at 45, 198 at 100, and at 100 194 with semi-space 4, 203 with 8. At
 *   100 with semi-space 8 the bench's swarm-4 reader (4 seeders at 2 MiB/s,
 *   CPU-bound) used 4 s less CPU of ~41 and ran 35.7-38.3 s against
 *   37.4-44.1; at 100 alone, no clear gain.
 *   While the daemon fetches from peers it runs at 100 (daemon/gc-pacing.ts):
 *   a cold read of the wide tree ran 6% faster with 1.5 CPU-s less.
 * - `MALLOC_ARENA_MAX=2`: libuv's thread pool (file reads, inflate) and
 *   libfuse's threads would each get a glibc arena that keeps what it freed.
 * - `MALLOC_MMAP_THRESHOLD_`: glibc raises its mmap threshold to the largest
 *   block freed so far (up to 32 MiB; the unpack path frees 1 MiB chunks),
 *   after which buffers of that size come from the heap and stay there when
 *   freed; a fixed threshold keeps buffers of 128 KiB and more in their own
 *   mappings, returned on free. Without the two: 145 MiB instead of 132.
 *
 * - `--v8-pool-size=1`: V8's background threads (concurrent marking, sweeping,
 *   compilation) are 4 by default, whatever the machine. A reader fetching
 *   the wide tree from one seeder spent ~6.9 s of a 2-core machine's ~47 s of
 *   CPU in them (perf, 23 s run), beside the main thread, the zlib worker,
 *   the FUSE reader thread, the seeder and 8 `cat`s. With one: cold reads of
 *   the wide tree 20.3 / 21.8 / 21.7 / 22.0 / 17.7 s against 22.9 / 23.3 /
 *   24.0 / 20.8 / 20.6 s, run in pairs (2026-12, this machine's spread is
 *   +-15%); the first byte did not move (8 runs). What it costs: GC ends
 *   later, so a cold-tree reader peaked at 242-256 MiB against 236-245, and
 *   the `rss` figure was 176.8 and 190.6 MiB in two runs (182.1 before).
 *
 * The heap flags are given on the command line, where they size the heap, and
 * set back to V8's defaults by the daemon's entry at once (bin/dist.cjs
 * restoreV8Defaults: node's code cache of its built-in modules is refused
 * under them); daemon/gc-pacing.ts sets the growth again a second later.
 *
 * glibc reads its variables at start: a daemon started by hand (`gtfs daemon`)
 * runs with whatever its environment says. systemd/gtfs-daemon.service sets
 * the same (a unit test holds the two together).
 */
export const DAEMON_NODE_FLAGS = ['--v8-pool-size=1', '--max-semi-space-size=2', '--heap-growing-percent=45']
export const DAEMON_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: String(128 * 1024) }

/**
 * Variables the daemon is started without. Node 20 reads the CA bundle that
 * NODE_EXTRA_CA_CERTS names when it starts, before any code runs: 86-124 ms
 * instead of 31-40 for `node -e 0` on a machine that sets it for all
 * processes, and every `gtfs mount` that starts the daemon waited for it. The
 * daemon speaks no TLS (UDP for the DHT, TCP for the wire, a unix socket for
 * control), so no certificate is ever used.
 */
const DAEMON_ENV_DROPPED = ['NODE_EXTRA_CA_CERTS']

/** The daemon's environment: this one with DAEMON_ENV as defaults, less DAEMON_ENV_DROPPED. */
export function daemonEnv (env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...DAEMON_ENV, ...env }
  for (const name of DAEMON_ENV_DROPPED) delete out[name]
  return out
}

export function daemonLogFile (paths: Paths): string {
  return join(paths.state, 'logs', 'daemon.log')
}

/** The pid of the daemon answering at `sock`; fails as `request` does (isNoDaemon: none runs). */
async function pingDaemon (sock: string): Promise<number> {
  return (await request<{ pid: number }>(sock, 'ping', {}, 5_000)).pid
}

/** The pid of the daemon answering at `sock`, or null when none does. */
async function runningDaemon (sock: string): Promise<number | null> {
  try {
    return await pingDaemon(sock)
  } catch (err) {
    if (isNoDaemon(err)) return null
    throw err
  }
}

/**
 * What a daemon started for a mount by key does while the CLI's request is on
 * its way (cli/commands/daemon.ts, daemon/daemon.ts `warm`): start its swarm
 * node with the options the request will carry, and look for the repo's peers.
 */
export interface DaemonHint {
  /** as the mount request's bootstrap and port */
  swarm: { bootstrap?: string, port?: number }
  /** the key (or alias) as the request will name it */
  repo: string
}

/** the variable a hint travels in, to the daemon's first moments only */
export const DAEMON_HINT_ENV = 'GTFS_DAEMON_HINT'

async function spawnDaemon (paths: Paths, settings: Settings, hint?: DaemonHint): Promise<number> {
  const env = hint === undefined ? daemonEnv() : { ...daemonEnv(), [DAEMON_HINT_ENV]: JSON.stringify(hint) }
  const ready = await spawnBackground({ args: [...DAEMON_NODE_FLAGS, DAEMON_BIN, 'daemon'], env, logFile: daemonLogFile(paths), timeoutMs: settings.mountReadyMs })
  return ready.pid
}

/**
 * Starts the daemon unless one answers already. Returns its pid. `hint`: a
 * daemon started now begins on that mount before its request arrives.
 */
export async function ensureDaemon (paths: Paths, settings: Settings, hint?: DaemonHint): Promise<number> {
  const sock = socketPath(paths)
  try {
    return await runningDaemon(sock) ?? await spawnDaemon(paths, settings, hint)
  } catch (err) {
    // Another command started it at the same moment: use that one.
    if (isGtfsError(err, 'EDAEMONRUNNING')) return await pingDaemon(sock)
    throw err
  }
}

export async function askDaemon<T> (paths: Paths, op: string, args: Record<string, unknown> = {}, timeoutMs?: number): Promise<T> {
  return await request<T>(socketPath(paths), op, args, timeoutMs)
}
