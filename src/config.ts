/**
 * Where state lives and what the defaults are. Precedence: the defaults here,
 * then `<config>/config.json`, then GTFS_* environment variables, then flags.
 * GTFS_HOME puts every directory under one root (tests, demos, several nodes
 * on one machine); otherwise the XDG base directories are used.
 */
import { readFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { UsageError } from './errors.ts'

export interface Paths {
  config: string
  data: string
  cache: string
  state: string
  runtime: string
}

export function paths (env: NodeJS.ProcessEnv = process.env): Paths {
  const home = env.GTFS_HOME
  if (home !== undefined && home !== '') {
    const h = resolve(home)
    return { config: join(h, 'config'), data: join(h, 'data'), cache: join(h, 'cache'), state: join(h, 'state'), runtime: join(h, 'run') }
  }
  const user = env.HOME ?? homedir()
  const xdg = (name: string, fallback: string): string => {
    const v = env[name]
    return v !== undefined && v.startsWith('/') ? v : fallback
  }
  const uid = process.getuid?.() ?? 0
  return {
    config: join(xdg('XDG_CONFIG_HOME', join(user, '.config')), 'gtfs'),
    data: join(xdg('XDG_DATA_HOME', join(user, '.local', 'share')), 'gtfs'),
    cache: join(xdg('XDG_CACHE_HOME', join(user, '.cache')), 'gtfs'),
    state: join(xdg('XDG_STATE_HOME', join(user, '.local', 'state')), 'gtfs'),
    runtime: join(xdg('XDG_RUNTIME_DIR', join(tmpdir(), `gtfs-${uid}`)), 'gtfs')
  }
}

export interface Settings {
  /** deadline for a FUSE open or read, milliseconds */
  readDeadlineMs: number
  /** deadline for lookup, getattr, readdir, milliseconds */
  metaDeadlineMs: number
  /** kernel cache lifetime of entries and attributes, seconds */
  kernelCacheSeconds: number
  /**
   * in-memory object cache, bytes. 32 MiB: a cold walk of the bench's wide
   * tree fetches ahead of its reads (readahead, siblings); with 16 MiB what
   * arrived was evicted before it was read and inflated again from the pack
   * (1.3 s of the reader's main thread; cold-tree 23.6 -> 20.5 s). The `rss`
   * figure: 200 MiB with 16, 192 with 32 (noise ~10 MiB).
   */
  objectCacheBytes: number
  /** blobs larger than this are served from unpacked files, bytes */
  largeBlobBytes: number
  /** disk budget for unpacked large blobs, bytes */
  unpackedBudgetBytes: number
  /** how long `gtfs mount` waits for the mount to be ready, milliseconds */
  mountReadyMs: number
  /**
   * disk quota of the object store (objects fetched from the swarm), bytes;
   * least recently used objects that nothing mounted needs are evicted above it
   */
  storeQuotaBytes: number
}

export const DEFAULTS: Readonly<Settings> = Object.freeze({
  readDeadlineMs: 30_000,
  metaDeadlineMs: 30_000,
  kernelCacheSeconds: 86_400,
  objectCacheBytes: 32 * 2 ** 20,
  largeBlobBytes: 4 * 2 ** 20,
  unpackedBudgetBytes: 4 * 2 ** 30,
  mountReadyMs: 60_000,
  // A fixed size, not a share of the free disk: what a cache may take should not
  // change because another program filled the disk. 10 GiB holds a few distro roots.
  storeQuotaBytes: 10 * 2 ** 30
})

const ENV: Record<keyof Settings, string> = {
  readDeadlineMs: 'GTFS_READ_DEADLINE_MS',
  metaDeadlineMs: 'GTFS_META_DEADLINE_MS',
  kernelCacheSeconds: 'GTFS_KERNEL_CACHE_SECONDS',
  objectCacheBytes: 'GTFS_OBJECT_CACHE_BYTES',
  largeBlobBytes: 'GTFS_LARGE_BLOB_BYTES',
  unpackedBudgetBytes: 'GTFS_UNPACKED_BUDGET_BYTES',
  mountReadyMs: 'GTFS_MOUNT_READY_MS',
  storeQuotaBytes: 'GTFS_STORE_QUOTA_BYTES'
}

function positiveInt (value: unknown, where: string): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) {
    throw new UsageError('EBADCONFIG', `${where} must be a positive whole number, not ${JSON.stringify(value)}`)
  }
  return n
}

/** Defaults ← config.json ← environment. Flags are applied by the caller. */
export function loadSettings (env: NodeJS.ProcessEnv = process.env): Settings {
  const s: Settings = { ...DEFAULTS }
  const file = join(paths(env).config, 'config.json')
  let text: string | null = null
  try {
    text = readFileSync(file, 'utf8')
  } catch {}
  if (text !== null) {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (cause) {
      throw new UsageError('EBADCONFIG', `${file} is not valid JSON`, { cause })
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError('EBADCONFIG', `${file} must hold a JSON object`)
    for (const [k, v] of Object.entries(parsed)) {
      if (!(k in DEFAULTS)) throw new UsageError('EBADCONFIG', `${file}: unknown setting ${k}`, { hint: `known: ${Object.keys(DEFAULTS).join(', ')}` })
      s[k as keyof Settings] = positiveInt(v, `${file}: ${k}`)
    }
  }
  for (const [k, name] of Object.entries(ENV) as Array<[keyof Settings, string]>) {
    const v = env[name]
    if (v !== undefined && v !== '') s[k] = positiveInt(v, name)
  }
  return s
}
