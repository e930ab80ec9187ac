/**
 * The CLI's side of the daemon: ask it, and start it first when it is not running.
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Paths, Settings } from '../config.ts'
import { isGtfsError } from '../errors.ts'
import { spawnBackground } from '../daemon/background.ts'
import { isNoDaemon, request } from '../daemon/control-client.ts'
import { socketPath } from '../daemon/daemon.ts'

const BIN = fileURLToPath(new URL('../../bin/gtfs', import.meta.url))

export function daemonLogFile (paths: Paths): string {
  return join(paths.state, 'logs', 'daemon.log')
}

/** Starts the daemon unless one answers already. Returns its pid. */
export async function ensureDaemon (paths: Paths, settings: Settings): Promise<number> {
  try {
    return (await request<{ pid: number }>(socketPath(paths), 'ping', {}, 5_000)).pid
  } catch (err) {
    if (!isNoDaemon(err)) throw err
  }
  try {
    const ready = await spawnBackground({ args: [BIN, 'daemon'], logFile: daemonLogFile(paths), timeoutMs: settings.mountReadyMs })
    return ready.pid
  } catch (err) {
    // Another command started it at the same moment: use that one.
    if (isGtfsError(err, 'EDAEMONRUNNING')) return (await request<{ pid: number }>(socketPath(paths), 'ping', {}, 5_000)).pid
    throw err
  }
}

export async function askDaemon<T> (paths: Paths, op: string, args: Record<string, unknown> = {}, timeoutMs?: number): Promise<T> {
  return await request<T>(socketPath(paths), op, args, timeoutMs)
}
