/**
 * The options every command that may start the swarm node takes: the DHT
 * bootstrap list and this node's port (with their environment variables).
 */
import type { Options } from 'yargs'
import { UsageError } from '../errors.ts'

export const SWARM_OPTIONS: Record<'bootstrap' | 'port', Options> = {
  bootstrap: { type: 'string', describe: 'DHT nodes host:port,... (or "none"); also GTFS_BOOTSTRAP; default the mainline routers' },
  port: { type: 'number', describe: 'UDP/TCP port of this node in the swarm (also GTFS_PORT; default any)' }
}

/** --port, else GTFS_PORT, else undefined (any free port). */
export function swarmPort (argv: { port?: number }): number | undefined {
  const env = process.env.GTFS_PORT
  const v = argv.port ?? (env !== undefined && env !== '' ? Number(env) : undefined)
  if (v !== undefined && (!Number.isSafeInteger(v) || v < 0 || v > 65535)) throw new UsageError('EUSAGE', '--port (GTFS_PORT) takes 0-65535')
  return v
}
