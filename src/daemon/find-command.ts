/**
 * `gtfs find-command <name>` on the daemon's side: which trusted repo on this
 * machine ships a program called `name`, and where it runs from in the
 * automount namespace.
 *
 * "Trusted repos" are those with an accepted state on this machine (a mount or
 * `gtfs verify` accepted a manifest of theirs). Each is resolved through the
 * automount (so verified again, and then shown under /gtfs), and its default
 * ref's tree is searched in PATH order: usr/local/bin, usr/bin, bin,
 * usr/local/sbin, usr/sbin, sbin. Repos already resolved are searched first.
 *
 * The search is metadata only: the bin directories' listings (tree objects,
 * fetched with the structure when the repo was resolved) make a small index per
 * commit, kept in memory. The one match is then checked with stat (catalog) and,
 * if it is a symbolic link, followed inside the repo (a link's target is a small
 * blob, fetched if missing) so that an absolute link such as
 * `usr/bin/ls -> /bin/busybox` names the repo's busybox, never the host's.
 */
import { posix } from 'node:path'
import { GtfsError, isGtfsError } from '../errors.ts'
import { logger } from '../log.ts'
import type { Session } from '../publish/session.ts'
import { listRepos } from '../publish/records.ts'
import { fingerprintOf, loadAcceptedState } from '../trust/index.ts'
import type { TreeView } from '../types.ts'
import type { Automount } from './automount.ts'

const log = logger('gtfs:daemon:find-command')

export const BIN_DIRS = ['/usr/local/bin', '/usr/bin', '/bin', '/usr/local/sbin', '/usr/sbin', '/sbin']
/** symbolic links followed at most */
const MAX_LINKS = 16
/** commits whose index is kept */
const MAX_INDEXES = 64

export interface FoundCommand {
  name: string
  repo: string
  /** the name of the repo in the namespace: an alias or the key */
  as: string
  ref: string
  commit: string
  seq: number
  /** the path inside the repo, links followed */
  inRepo: string
  /** where to run it: <automount>/<as><inRepo> */
  path: string
  signers: Array<{ fingerprint: string, userIds: string[] }>
}

export class CommandFinder {
  private readonly indexes = new Map<string, Map<string, string>>()

  constructor (private readonly session: Session) {}

  async find (automount: Automount, name: string, signal?: AbortSignal): Promise<FoundCommand | null> {
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0') || name.length > 255) return null
    const trusted: string[] = []
    for (const key of await listRepos(this.session.home)) {
      if (await loadAcceptedState(this.session.home.state, key).catch(() => null) !== null) trusted.push(key)
    }
    const first = automount.resolvedKeys().filter(k => trusted.includes(k))
    const order = [...first, ...trusted.filter(k => !first.includes(k))]
    // Resolve them all at once (most are resolved already); search them in order.
    const views = order.map(key => automount.repo(key, { signal }))
    for (const v of views) v.catch(() => {})
    for (const [i, key] of order.entries()) {
      let repo
      try {
        repo = await views[i]
      } catch (err) {
        if (signal?.aborted === true) throw err
        log('%s: not searched: %s', key, (err as Error).message)
        continue
      }
      const view = repo.commitView
      const hit = (await this.index(view.commit, view)).get(name)
      if (hit === undefined) continue
      const inRepo = await followLinks(view, hit, signal)
      if (inRepo === null) continue
      const r = repo.current
      const as = await automount.nameOf(key)
      return {
        name,
        repo: key,
        as,
        ref: r.ref,
        commit: r.commit,
        seq: r.manifest.seq,
        inRepo,
        path: `${automount.dir}/${as}${inRepo}`,
        signers: await this.describeSigners(r.signers)
      }
    }
    return null
  }

  /** name → path of the first bin directory holding it. */
  private async index (commit: string, view: TreeView): Promise<Map<string, string>> {
    const hit = this.indexes.get(commit)
    if (hit !== undefined) return hit
    const index = new Map<string, string>()
    for (const dir of BIN_DIRS) {
      let names: readonly string[]
      try {
        names = await view.readdir(dir)
      } catch (err) {
        if (isGtfsError(err, 'ENOENT') || isGtfsError(err, 'ENOTDIR')) continue
        throw err
      }
      for (const n of names) if (!index.has(n)) index.set(n, `${dir}/${n}`)
    }
    if (this.indexes.size >= MAX_INDEXES) this.indexes.delete(this.indexes.keys().next().value!)
    this.indexes.set(commit, index)
    return index
  }

  private async describeSigners (fingerprints: string[]): Promise<FoundCommand['signers']> {
    const keys = await this.session.publicKeys().catch(() => [])
    return fingerprints.map(fpr => {
      const key = keys.find(k => fingerprintOf(k) === fpr)
      return { fingerprint: fpr, userIds: key?.getUserIDs() ?? [] }
    })
  }
}

/** The executable file `path` names inside the view, following links within it; null when it is none. */
async function followLinks (view: TreeView, path: string, signal?: AbortSignal): Promise<string | null> {
  for (let i = 0; i <= MAX_LINKS; i++) {
    let attr
    try {
      attr = await view.stat(path, { signal })
    } catch (err) {
      if (isGtfsError(err, 'ENOENT') || isGtfsError(err, 'ENOTDIR')) return null
      throw err
    }
    if (attr.kind === 'file') return (attr.mode & 0o111) !== 0 ? path : null
    if (attr.kind !== 'symlink') return null
    const target = await view.readlink(path, { signal })
    // Inside the repo, "/" is the repo's root, as it is for a chroot into it.
    path = posix.resolve(posix.dirname(path), target)
  }
  throw new GtfsError('ELOOP', `${path}: more than ${MAX_LINKS} symbolic links`)
}
