/**
 * gtfs cache stats | gc | prefetch: the local object store — what it holds
 * against its quota, evicting down to it now, and filling it ahead of use.
 * stats and gc ask the daemon when it runs (it owns the store), else work on
 * the store directly; prefetch needs the daemon's swarm node.
 */
import { join } from 'node:path'
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { loadSettings, paths } from '../../config.ts'
import { GtfsError, UsageError } from '../../errors.ts'
import { isNoDaemon } from '../../daemon/control-client.ts'
import type { PrefetchProgress } from '../../daemon/prefetch.ts'
import type { CacheGcResult, CacheStats } from '../../daemon/store-keeper.ts'
import type { Session } from '../../publish/session.ts'
import type { GitObjectStore } from '../../store/object-store.ts'
import { askDaemon, ensureDaemon } from '../daemon-client.ts'
import { printJson } from '../output.ts'
import { SWARM_OPTIONS, swarmPort } from '../swarm-options.ts'

const UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, kib: 2 ** 10, m: 2 ** 20, mib: 2 ** 20, g: 2 ** 30, gib: 2 ** 30, t: 2 ** 40, tib: 2 ** 40 }

/** "5368709120", "512M", "10G", "1.5GiB" → bytes (powers of 1024). */
export function parseSize (text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text)
  const unit = m === null ? undefined : UNITS[m[2].toLowerCase()]
  if (m === null || unit === undefined) throw new UsageError('EUSAGE', `${JSON.stringify(text)} is not a size`, { hint: 'give bytes, or a number with K, M, G or T (powers of 1024): 512M, 10G' })
  return Math.floor(Number(m[1]) * unit)
}

export function formatBytes (n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`
}

/** Runs `op` in the daemon when one answers, else on the store in this process. */
async function onStore<T> (op: string, args: Record<string, unknown>, local: (store: GitObjectStore, session: Session) => Promise<T>): Promise<T> {
  const p = paths()
  try {
    return await askDaemon<T>(p, op, args, 10 * 60_000)
  } catch (err) {
    if (!isNoDaemon(err)) throw err
  }
  const { withSession } = await import('../../publish/session.ts')
  const { GitObjectStore } = await import('../../store/object-store.ts')
  return await withSession(p.data, async session => {
    const store = await GitObjectStore.open(join(session.home.store, 'objects'))
    try {
      return await local(store, session)
    } finally {
      await store.close()
    }
  })
}

const stats: CommandModule<object, { json?: boolean }> = {
  command: 'stats',
  describe: 'what the store holds: loose and packed objects, pinned bytes, quota',
  builder: (y: Argv) => y
    .example('gtfs cache stats', 'sizes against the quota, and what each repo pins')
    .example('gtfs cache stats --json', 'the same as data') as unknown as Argv<{ json?: boolean }>,
  handler: async (argv: ArgumentsCamelCase<{ json?: boolean }>) => {
    const s = await onStore<CacheStats>('cache-stats', {}, async (store, session) => {
      const { cacheStats } = await import('../../daemon/store-keeper.ts')
      return await cacheStats(store, session, loadSettings(), paths().cache)
    })
    if (argv.json) { printJson(s); return }
    const u = s.usage
    const pct = s.quotaBytes > 0 ? ` (${(100 * u.totalBytes / s.quotaBytes).toFixed(1)}%)` : ''
    process.stdout.write(
      `store: ${s.objectsDir}\n` +
      `on disk: ${formatBytes(u.totalBytes)} of a ${formatBytes(s.quotaBytes)} quota${pct}\n` +
      `  loose:  ${u.loose.objects} objects, ${formatBytes(u.loose.bytes)}\n` +
      `  packed: ${u.packed.objects} objects in ${u.packed.packs} packs, ${formatBytes(u.packed.bytes)}\n` +
      (u.held.objects > 0 ? `in memory, for the next pack: ${u.held.objects} objects, ${formatBytes(u.held.bytes)}\n` : '') +
      `pinned: ${u.pinnedObjects} objects; ${formatBytes(u.pinnedBytes)} of loose objects and packs that hold them\n` +
      `  signed documents: ${s.documents} objects\n`)
    for (const r of s.repos) process.stdout.write(`  repo ${r.repo}: ${r.objects} objects (commits, trees) of ${r.commits.length} commit${r.commits.length === 1 ? '' : 's'}\n`)
    if (u.oldestUse !== null) process.stdout.write(`least recently used: ${new Date(u.oldestUse).toISOString()}\n`)
    const p = s.unpacked
    process.stdout.write(`plain copies of large blobs: ${p.files} file${p.files === 1 ? '' : 's'}, ${formatBytes(p.bytes)} of a ${formatBytes(p.budgetBytes)} budget, outside the quota (${p.dir})\n`)
  }
}

interface GcArgs { maxSize?: string, json?: boolean }
const gc: CommandModule<object, GcArgs> = {
  command: 'gc',
  describe: 'evict least recently used objects down to the quota now',
  builder: (y: Argv) => y
    .option('max-size', { type: 'string', describe: 'evict down to this size instead of the quota (bytes, or 512M, 10G)' })
    .example('gtfs cache gc', 'enforce the quota (storeQuotaBytes, GTFS_STORE_QUOTA_BYTES) now')
    .example('gtfs cache gc --max-size 2G', 'shrink the store to 2 GiB, keeping what mounts need') as unknown as Argv<GcArgs>,
  handler: async (argv: ArgumentsCamelCase<GcArgs>) => {
    const max = argv.maxSize === undefined ? undefined : parseSize(argv.maxSize)
    const quota = max ?? loadSettings().storeQuotaBytes
    const r = await onStore<CacheGcResult>('cache-gc', max === undefined ? {} : { maxBytes: max }, async (store, session) => {
      const { cacheGc } = await import('../../daemon/store-keeper.ts')
      return await cacheGc(store, session, quota)
    })
    if (argv.json) { printJson(r); return }
    process.stdout.write(
      `freed ${formatBytes(r.freedBytes)}: ${r.evicted.packs} packs, ${r.evicted.looseObjects} loose objects` +
      (r.kept > 0 ? ` (${r.kept} pinned objects copied out of evicted packs)` : '') + '\n' +
      `store: ${formatBytes(r.before.totalBytes)} -> ${formatBytes(r.after.totalBytes)}, limit ${formatBytes(r.quotaBytes)}\n`)
    if (r.overQuota) process.stdout.write('still over the limit: the rest is pinned (mounted or accepted commits, signed documents) or was read in the last minute\n')
  }
}

interface PrefetchArgs { key: string, path?: string, ref?: string, bootstrap?: string, port?: number, json?: boolean }

function bar (p: PrefetchProgress, width: number): string {
  const want = p.total.bytes - p.present.bytes
  const share = want > 0 ? Math.min(1, p.fetched.bytes / want) : (p.total.objects - p.present.objects > 0 ? p.fetched.objects / (p.total.objects - p.present.objects) : 1)
  const rate = p.elapsedMs > 0 ? p.fetched.bytes / (p.elapsedMs / 1000) : 0
  const n = Math.round(share * width)
  return `[${'#'.repeat(n)}${'-'.repeat(width - n)}] ${(share * 100).toFixed(0).padStart(3)}% ` +
    `${p.fetched.objects}/${p.total.objects - p.present.objects} objects, ${formatBytes(p.fetched.bytes)}/${formatBytes(want)}, ${formatBytes(Math.round(rate))}/s`
}

const prefetch: CommandModule<object, PrefetchArgs> = {
  command: 'prefetch <key> [path]',
  describe: 'fetch every file under a path of a repo\'s current commit into the store (and seed it)',
  builder: (y: Argv) => y
    .positional('key', { type: 'string', describe: 'repo key, gtfs:// URL or alias', demandOption: true })
    .positional('path', { type: 'string', describe: 'a directory or file of the repo (default: all of it)' })
    .option('ref', { type: 'string', describe: 'the ref to take the commit of (default: the manifest\'s default ref)' })
    .options(SWARM_OPTIONS)
    .example('gtfs cache prefetch 3f9a…e1', 'fetch the whole current tree, with a progress bar')
    .example('gtfs cache prefetch distro usr/lib --json', 'fetch one directory of an aliased repo; print the result as data') as unknown as Argv<PrefetchArgs>,
  handler: async (argv: ArgumentsCamelCase<PrefetchArgs>) => {
    const p = paths()
    const settings = loadSettings()
    const port = swarmPort(argv)
    await ensureDaemon(p, settings)
    let prog = await askDaemon<PrefetchProgress>(p, 'cache-prefetch', { key: argv.key, path: argv.path ?? '/', ref: argv.ref, bootstrap: argv.bootstrap, port }, settings.mountReadyMs + 10_000)
    const tty = argv.json !== true && process.stderr.isTTY === true
    const plain = argv.json !== true && !tty
    if (argv.json !== true) {
      process.stderr.write(`${prog.repo.slice(0, 12)} ${prog.ref} ${prog.commit.slice(0, 12)} ${prog.path}: ${prog.total.objects} files, ${formatBytes(prog.total.bytes)}; ${prog.present.objects} already here\n`)
    }
    let lastLine = 0
    while (!prog.finished) {
      await new Promise(resolve => setTimeout(resolve, tty ? 200 : 500))
      prog = await askDaemon<PrefetchProgress>(p, 'cache-progress', { job: prog.job }, 10_000)
      if (tty) process.stderr.write(`\r${bar(prog, 30)}\x1b[K`)
      else if (plain && Date.now() - lastLine >= 2000) {
        lastLine = Date.now()
        process.stderr.write(`progress: ${prog.fetched.objects} objects, ${prog.fetched.bytes} bytes\n`)
      }
    }
    if (tty) process.stderr.write(`\r${bar(prog, 30)}\x1b[K\n`)
    if (prog.error !== null) throw new GtfsError(prog.error.code, `prefetch of ${prog.path}: ${prog.error.message}`, { hint: 'what was fetched stays; run it again to fetch the rest' })
    if (argv.json) { printJson(prog); return }
    process.stdout.write(`fetched ${prog.fetched.objects} objects (${formatBytes(prog.fetched.bytes)}) in ${(prog.elapsedMs / 1000).toFixed(1)} s; ${prog.present.objects} were already here\n`)
  }
}

export const cacheCommand: CommandModule = {
  command: 'cache <command>',
  describe: 'the local object store: stats, gc, prefetch',
  builder: (y: Argv) => y
    .command(stats)
    .command(gc)
    .command(prefetch)
    .demandCommand(1, 'name a subcommand: stats, gc or prefetch')
    .example('gtfs cache stats', 'how full the store is')
    .example('gtfs cache gc --max-size 5G', 'shrink it now')
    .example('gtfs cache prefetch distro', 'fetch a whole repo ahead of use'),
  handler: () => {}
}
