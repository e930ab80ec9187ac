/**
 * The automount namespace (`gtfs automount /gtfs`): one FUSE mount whose root
 * is a NamespaceView. Looking up `/gtfs/<name>`, where name is a repo key (64
 * lowercase hex digits) or an alias (repo/aliases.ts), resolves the repo as
 * `gtfs mount <key>` would (verified, followed to newer manifests, seeded) and
 * serves its default ref's tree below that name.
 *
 * - A name that is neither a key nor an alias: ENOENT at once, no network.
 * - A repo nobody serves and this machine never accepted (ENOPEERS), or whose
 *   records are gone (ENOREPO): ENOENT; any other failure (a manifest that does
 *   not verify, a deadline): EIO, with the reason in the warnings of
 *   `gtfs status`. Either way the failure is listed under the mount in
 *   `gtfs status` and remembered for FAILURE_TTL_MS, so that a shell walking
 *   PATH does not resolve a dead repo on every command.
 * - Resolution runs once per repo (single flight) under a deadline a little
 *   shorter than the FUSE metadata deadline, so the lookup that started it is
 *   answered with the real reason; it is not cancelled when that lookup gives
 *   up, and later lookups share it. A lookup in the root waits for it at most
 *   ROOT_WAIT_MS (the kernel serializes the root's lookups meanwhile), then
 *   shows the name as a directory; operations below it wait for the repo.
 *   So a repo that takes long to resolve stalls `ls /gtfs` and other new
 *   names for at most a second, never for its whole resolution.
 * - `ls /gtfs` lists the names resolved so far (a repo reached by its key and
 *   by an alias shows under both names); it never resolves anything.
 * - A name stays bound to the repo it first resolved to until the namespace is
 *   unmounted, even if its alias is changed meanwhile.
 */
import type { Settings } from '../config.ts'
import { GtfsError, isGtfsError, NotFoundError } from '../errors.ts'
import { mountView, type Mounted } from '../fs/mount.ts'
import { logger } from '../log.ts'
import type { Session } from '../publish/session.ts'
import { loadAliases, REPO_KEY } from '../repo/aliases.ts'
import { NamespaceView, type NamespaceEntry } from '../repo/namespace-view.ts'
import type { GitObjectStore } from '../store/object-store.ts'
import type { AbortOptions } from '../types.ts'
import type { ActiveMount } from './local-mount.ts'
import { openSwarmRepoView, type SwarmRepoView } from './swarm-mount.ts'
import type { SwarmNode } from './swarm-node.ts'

const log = logger('gtfs:daemon:automount')

/** how long a failed resolution is answered from memory, ms */
const FAILURE_TTL_MS = 5_000
/** how long a lookup in the namespace's root waits for its repo before showing a placeholder directory, ms (namespace-view.ts) */
const ROOT_WAIT_MS = 1_000
/** failures kept for `gtfs status` */
const MAX_FAILURES = 20
/** codes that mean "there is no such repo to be had": ENOENT rather than EIO */
const ABSENT = new Set(['ENOPEERS', 'ENOREPO'])

export interface AutomountOptions {
  dir: string
  allowOther?: boolean
  settings: Settings
  session: Session
  store: GitObjectStore
  node: SwarmNode
  /** where aliases.json lives */
  dataDir: string
  /** ms between checks for a newer manifest of each repo (default 30 s) */
  followEveryMs?: number
}

export interface AutomountRepo {
  name: string
  repo: string
  seq: number
  ref: string
  commit: string
  offline: boolean
  signers: string[]
}

export interface AutomountFailure { name: string, repo: string, code: string, message: string, at: string }

export interface Automount extends ActiveMount {
  readonly kind: 'automount'
  /** The repo `key`, resolved (or resolving) as a lookup of it would. */
  repo (key: string, opts?: AbortOptions): Promise<SwarmRepoView>
  /** The name to show `key` under in the namespace: an alias of it, else the key. */
  nameOf (key: string): Promise<string>
  /** keys resolved so far, in the order they were first resolved */
  resolvedKeys (): string[]
  details (): { repos: AutomountRepo[], failures: AutomountFailure[] }
}

interface Slot {
  slot: number
  pending: Promise<SwarmRepoView>
  value?: SwarmRepoView
  error?: unknown
  failedAt?: number
}

/** Waits for `p` or the caller's signal, whichever comes first; `p` goes on either way. */
async function orAbort<T> (p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return await p
  signal.throwIfAborted()
  let onAbort!: () => void
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([p, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

export async function openAutomount (o: AutomountOptions): Promise<Automount> {
  const names = new Map<string, string>() // name → key, once resolved
  const slots = new Map<string, Slot>() // key → resolution
  const failures: AutomountFailure[] = []
  let nextSlot = 1
  let closed = false
  const started = new Date()

  const resolveMs = Math.max(1_000, o.settings.metaDeadlineMs - 1_000)

  function repo (key: string): Promise<SwarmRepoView> {
    const s = slots.get(key)
    if (s !== undefined && (s.failedAt === undefined || Date.now() - s.failedAt < FAILURE_TTL_MS)) return s.pending
    const slot: Slot = {
      slot: s?.slot ?? nextSlot++,
      pending: openSwarmRepoView({
        repo: key,
        pin: false,
        allowExpired: false,
        settings: o.settings,
        session: o.session,
        store: o.store,
        node: o.node,
        followEveryMs: o.followEveryMs,
        resolveMs,
        label: `${o.dir}/${key.slice(0, 12)}…`
      })
    }
    slots.set(key, slot)
    slot.pending.then(v => {
      if (closed) { v.close(); return }
      slot.value = v
      log('resolved %s: seq %d, %s', key, v.current.manifest.seq, v.current.commit)
    }, (err: unknown) => {
      slot.error = err
      slot.failedAt = Date.now()
    })
    return slot.pending
  }

  async function keyOf (name: string): Promise<string | null> {
    const bound = names.get(name)
    if (bound !== undefined) return bound
    if (REPO_KEY.test(name)) return name === name.toLowerCase() ? name : null
    return (await loadAliases(o.dataDir)).get(name) ?? null
  }

  async function lookup (name: string, opts?: AbortOptions): Promise<NamespaceEntry> {
    const key = await keyOf(name)
    if (key === null) throw new NotFoundError(`/${name}: not a repo key or alias`, { code: 'ENOENT' })
    let view: SwarmRepoView
    try {
      view = await orAbort(repo(key), opts?.signal)
    } catch (err) {
      if (opts?.signal?.aborted === true && err === opts.signal.reason) throw err
      const code = isGtfsError(err) ? err.code : 'EUNEXPECTED'
      const message = (err as Error)?.message ?? String(err)
      if (failures.at(-1)?.message !== message || failures.at(-1)?.name !== name) {
        failures.push({ name, repo: key, code, message, at: new Date().toISOString() })
        if (failures.length > MAX_FAILURES) failures.shift()
      }
      if (ABSENT.has(code)) throw new NotFoundError(`/${name}: ${message}`, { code: 'ENOENT' })
      // Whatever the code, the reader gets EIO (errno.ts maps EAUTOMOUNT to nothing else) and the reason is logged.
      throw new GtfsError('EAUTOMOUNT', `/${name}: ${message} (${code})`, { cause: err })
    }
    if (!names.has(name)) names.set(name, key)
    return { view: view.view, slot: slots.get(key)!.slot }
  }

  async function pending (name: string): Promise<number | null> {
    const key = await keyOf(name).catch(() => null)
    const s = key === null ? undefined : slots.get(key)
    return s === undefined || s.value !== undefined || s.failedAt !== undefined ? null : s.slot
  }

  const namespace = new NamespaceView({ lookup, list: () => [...names.keys()], mtime: started, pending, rootWaitMs: ROOT_WAIT_MS })
  const mounted: Mounted = await mountView(namespace, o.dir, {
    label: 'gtfs:automount',
    readDeadlineMs: o.settings.readDeadlineMs,
    metaDeadlineMs: o.settings.metaDeadlineMs,
    // Repos follow newer manifests, and names appear: the kernel keeps entries and misses briefly.
    cacheSeconds: 1,
    follow: true,
    allowOther: o.allowOther
  })

  let closing: Promise<void> | undefined
  return {
    kind: 'automount',
    dir: mounted.dir,
    source: 'automount',
    commit: '',
    ref: null,
    started,
    stats: mounted.stats,
    repo: async (key, opts) => await orAbort(repo(key), opts?.signal),
    nameOf: async key => {
      // An alias reads better than a key, unless that name is bound to another repo here already.
      for (const [n, k] of await loadAliases(o.dataDir).catch(() => new Map<string, string>())) if (k === key && (names.get(n) ?? key) === key) return n
      return key
    },
    resolvedKeys: () => [...slots].filter(([, s]) => s.value !== undefined).sort(([, a], [, b]) => a.slot - b.slot).map(([k]) => k),
    details: () => ({
      repos: [...names].flatMap(([name, key]) => {
        const v = slots.get(key)?.value
        if (v === undefined) return []
        const c = v.current
        return [{ name, repo: key, seq: c.manifest.seq, ref: c.ref, commit: c.commit, offline: c.offline, signers: c.signers }]
      }),
      failures: [...failures]
    }),
    close: async () => {
      closing ??= (async () => {
        closed = true
        for (const s of slots.values()) s.value?.close()
        await mounted.unmount()
      })()
      await closing
    }
  }
}
