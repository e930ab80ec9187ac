/**
 * Mounting a TreeView with fuse-native. All FUSE option choices live here:
 * content is immutable, so the kernel keeps pages (kernel_cache) and caches
 * entries, attributes and misses for a long time; the mount is read-only (`ro`),
 * so the kernel itself answers every write syscall with EROFS.
 */
import { createRequire } from 'node:module'
import { release as osRelease } from 'node:os'
import type Fuse from 'fuse-native'
import type { FuseOps, FuseOptions } from 'fuse-native'
import { EnvironmentError } from '../errors.ts'
import { logger } from '../log.ts'
import type { TreeView } from '../types.ts'
import { mountDevFuse, prewarmDevFuse } from './dev-fuse.ts'
import { leanHandlers, type Handler } from './fuse-dispatch.ts'
import { kernelAtLeast, kernelOpensAlone, makeFuseOps, type GtfsFuseOps, type OpsStats } from './fuse-ops.ts'
import { assertFuseUsable, checkMountpoint, checkPrivilegedOptions, isMounted } from './preflight.ts'
import { unmountDir } from './unmount.ts'

const log = logger('gtfs:fs:mount')

export interface MountOptions {
  /** shown as the mount's source in /proc/mounts; no commas */
  label: string
  /** deadline for open and read, ms (default 30 000) */
  readDeadlineMs?: number
  /** deadline for metadata operations, ms (default 30 000) */
  metaDeadlineMs?: number
  /** kernel cache lifetime of entries, attributes and negative lookups, seconds (default 86 400) */
  cacheSeconds?: number
  allowOther?: boolean
  /**
   * Honour setuid/setgid bits (`suid`) and device nodes (`dev`) of the view.
   * libfuse 2 mounts `nosuid,nodev` unless told otherwise; both are refused
   * unless this process runs as root (a user must not gain root from a tree
   * someone else signed).
   */
  suid?: boolean
  dev?: boolean
  debug?: boolean
  /**
   * The tree under the mount may change (a followed repo): the kernel keeps
   * entries for `cacheSeconds` only and drops a file's pages when its size or
   * mtime changed (auto_cache) instead of keeping them across opens (kernel_cache).
   */
  follow?: boolean
}

export interface Mounted {
  readonly dir: string
  readonly stats: OpsStats
  unmount (): Promise<void>
}

/** The mount's source in /proc/mounts: the label without what would split an option list. */
function mountLabel (opts: MountOptions): string {
  return opts.label.replace(/[,\s\\]/g, '_')
}

/**
 * libfuse options fuse-native has no setting for ride in after `fsname`, which
 * it passes through verbatim: `-o fsname=<label>,ro,use_ino,negative_timeout=N`.
 * `nosuid`/`nodev` are libfuse 2's defaults already; saying them keeps the
 * choice visible here. With allow_other the kernel checks permissions against
 * the served owners and modes (default_permissions): otherwise any user could
 * read a 0600 file of a root filesystem, since gtfs has no access() check.
 */
function fuseOptions (opts: MountOptions): FuseOptions {
  const label = mountLabel(opts)
  const cache = opts.cacheSeconds ?? 86_400
  const suid = opts.suid === true ? 'suid' : 'nosuid'
  const dev = opts.dev === true ? 'dev' : 'nodev'
  return {
    fsname: `${label},ro,${suid},${dev},use_ino,negative_timeout=${cache}${opts.allowOther === true ? ',default_permissions' : ''}`,
    subtype: 'gtfs',
    kernelCache: opts.follow !== true,
    autoCache: opts.follow === true,
    entryTimeout: cache,
    attrTimeout: cache,
    allowOther: opts.allowOther,
    debug: opts.debug,
    // Our own deadlines (fuse-ops) answer first; this is only the last resort.
    timeout: Math.max(opts.readDeadlineMs ?? 30_000, opts.metaDeadlineMs ?? 30_000) + 5_000
  }
}

type FuseClass = typeof Fuse

/**
 * fuse-native with two changes. Its libfuse debug output (every request, on
 * stderr, and slower) comes on whenever DEBUG contains a `*`, so `DEBUG=gtfs:*`
 * would flood the log: only --fuse-debug (MountOptions.debug) turns it on
 * here. And the operations of every file read go through fuse-dispatch.ts's
 * lean handlers. (bench/fuse-floor.ts mounts its floor with it too.)
 *
 * Loaded on first use: fuse-native and its native module were ~35 ms of a
 * daemon's start before it could answer, and a mount needs them only at its
 * end. A swarm mount preloads it (preloadFuse) while its peers' state travels.
 */
function makeGtfsFuse (Base: FuseClass): FuseClass {
  // fuse-native unmounts through `exec("fusermount -uz " + JSON.stringify(dir))`:
  // a shell would expand `$(...)` in a directory name. Route it through execFile.
  ;(Base as unknown as { unmount: (dir: string, cb: (err: Error | null) => void) => void }).unmount = (dir, cb) => {
    // Already gone (fusermount -u from outside): only the native side is left to clean up.
    isMounted(dir)
      .then(async m => { if (m !== null) await unmountDir(dir) })
      .then(() => { cb(null) }, err => { cb(err as Error) })
  }
  return class GtfsFuse extends Base {
    _fuseOptions (): string {
      const saved = process.env.DEBUG
      delete process.env.DEBUG
      try {
        return (Base.prototype as unknown as { _fuseOptions: () => string })._fuseOptions.call(this)
      } finally {
        if (saved !== undefined) process.env.DEBUG = saved
      }
    }

    /** called by fuse-native's constructor, after it set `ops` */
    _makeHandlerArray (): Handler[] {
      const stock = (Base.prototype as unknown as { _makeHandlerArray: () => Handler[] })._makeHandlerArray.call(this)
      return leanHandlers(stock, () => (this as unknown as { ops: FuseOps }).ops)
    }
  }
}

let loading: Promise<FuseClass> | undefined

/** gtfs's fuse-native class (see makeGtfsFuse), loading fuse-native on first use. */
export async function gtfsFuse (): Promise<FuseClass> {
  if (loading === undefined) {
    // required, not imported: fuse-native is CommonJS, and an import() in the
    // daemon's bundle would need a loader that bin/dist.cjs's runBundle does not give
    loading = Promise.resolve().then(() => makeGtfsFuse(createRequire(import.meta.url)('fuse-native') as typeof Fuse))
    loading.catch(() => { loading = undefined }) // the next call tries again
  }
  return await loading
}

/**
 * Gets the transport ready ahead of a mount: loads fuse-native, or starts the
 * /dev/fuse session's worker thread (~40 ms, dev-fuse.ts). Never fails (a
 * failure is the mount's to report).
 */
export function preloadFuse (): void {
  if (fuseTransport() === 'dev-fuse') { prewarmDevFuse(); return }
  gtfsFuse().catch(() => {})
}

/**
 * fuse-native's native side holds the Fuse object (and so its `ops`, and
 * through them the view with its caches and object store) in references it
 * never deletes: every mount stayed in memory after its unmount, measured
 * ~27 MiB for each `--git-dir` mount (the `rss` figure mounts 33 times). An
 * unmounted Fuse is handed ops that answer EIO and hold nothing.
 */
function detachOps (fuse: Fuse, eio: number): void {
  const f = fuse as unknown as { ops: Record<string, unknown> }
  const gone: Record<string, (...args: unknown[]) => void> = {}
  for (const name of Object.keys(f.ops)) {
    gone[name] = (...args) => {
      const cb = args[args.length - 1]
      if (typeof cb === 'function') cb(eio)
    }
  }
  f.ops = gone
}

/**
 * Which transport serves a mount: gtfs's own session on /dev/fuse (dev-fuse.ts)
 * where it can mount (root) and the kernel has what it relies on (Linux 5.1:
 * FUSE_NO_OPENDIR_SUPPORT), else fuse-native over libfuse 2. GTFS_FUSE=libfuse
 * forces fuse-native.
 */
export function fuseTransport (release: string = osRelease()): 'dev-fuse' | 'libfuse' {
  if (process.env.GTFS_FUSE === 'libfuse' || process.getuid?.() !== 0) return 'libfuse'
  return kernelAtLeast(5, 1, release) ? 'dev-fuse' : 'libfuse'
}

/** Mounts `ops` at the absolute `abs` through the transport fuseTransport() picks. */
export async function mountOps (ops: GtfsFuseOps, abs: string, opts: MountOptions): Promise<{ unmount: () => Promise<void> }> {
  if (fuseTransport() === 'dev-fuse') {
    return await mountDevFuse(abs, ops, {
      label: mountLabel(opts),
      cacheSeconds: opts.cacheSeconds ?? 86_400,
      keepCache: opts.follow !== true,
      allowOther: opts.allowOther === true,
      suid: opts.suid === true,
      dev: opts.dev === true,
      debug: opts.debug === true,
      passthrough: process.env.GTFS_PASSTHROUGH !== '0'
    })
  }
  const GtfsFuse = await gtfsFuse()
  const fuse = new GtfsFuse(abs, ops, fuseOptions(opts))
  await new Promise<void>((resolve, reject) => {
    fuse.mount(err => {
      if (err === null) resolve()
      else reject(new EnvironmentError('EMOUNT', `could not mount ${abs}: ${err.message}`, { hint: '`gtfs doctor` checks the FUSE prerequisites', cause: err }))
    })
  })
  return {
    unmount: async () => {
      await new Promise<void>((resolve, reject) => {
        fuse.unmount(err => { if (err === null) resolve(); else reject(err) })
      })
      detachOps(fuse, GtfsFuse.EIO)
    }
  }
}

export async function mountView (view: TreeView, dir: string, opts: MountOptions): Promise<Mounted> {
  checkPrivilegedOptions(opts)
  await assertFuseUsable()
  const abs = await checkMountpoint(dir)
  const { ops, stats, closeAll } = makeFuseOps(view, {
    readDeadlineMs: opts.readDeadlineMs ?? 30_000,
    metaDeadlineMs: opts.metaDeadlineMs ?? 30_000,
    perOpen: opts.follow === true,
    zeroMessageOpens: kernelOpensAlone()
  })
  const mounted = await mountOps(ops, abs, opts)
  log('mounted %s at %s', opts.label, abs)
  let unmounting: Promise<void> | undefined
  return {
    dir: abs,
    stats,
    unmount: async () => {
      unmounting ??= mounted.unmount().finally(closeAll)
      await unmounting
    }
  }
}
