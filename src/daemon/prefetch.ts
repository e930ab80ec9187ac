/**
 * `gtfs cache prefetch <key> [path]`: every file under `path` of a repo's
 * current commit into the store, through the daemon's swarm node (so that this
 * node seeds them afterwards). The job is started by one control request,
 * which answers with the totals once the tree is listed; the fetch goes on in
 * the background and `progress` reports it (the CLI polls: the control
 * protocol has one answer per request).
 */
import type { Settings } from '../config.ts'
import { GtfsError, NotFoundError, UsageError } from '../errors.ts'
import { parseCommit } from '../git/commit.ts'
import { parseTree } from '../git/tree.ts'
import { logger } from '../log.ts'
import type { Session } from '../publish/session.ts'
import { fetchStructure, resolveSwarmRepo } from '../repo/swarm-repo.ts'
import { SwarmSource } from '../repo/swarm-source.ts'
import type { GitObjectStore } from '../store/object-store.ts'
import type { ObjectId } from '../types.ts'
import type { SwarmNode } from './swarm-node.ts'

const log = logger('gtfs:daemon:prefetch')

export interface PrefetchProgress {
  job: number
  repo: string
  ref: string
  commit: ObjectId
  path: string
  /** files under path (distinct blobs) and their bytes */
  total: { objects: number, bytes: number }
  /** of those, already in the store when the job started */
  present: { objects: number, bytes: number }
  /** fetched so far by this job */
  fetched: { objects: number, bytes: number }
  started: string
  elapsedMs: number
  finished: boolean
  error: { code: string, message: string } | null
}

/** ids per fetch call, and calls in flight: the fetcher spreads each over peers */
const CHUNK = 256
const PARALLEL = 4

interface Blob { id: ObjectId, size: number | undefined }

export class Prefetcher {
  private nextJob = 1
  private readonly jobs = new Map<number, PrefetchProgress>()

  constructor (private readonly o: { session: Session, store: GitObjectStore, settings: Settings, node: () => Promise<SwarmNode> }) {}

  progress (job: number): PrefetchProgress {
    const p = this.jobs.get(job)
    if (p === undefined) throw new NotFoundError(`no prefetch job ${job} in this daemon`, { code: 'ENOJOB' })
    return { ...p, elapsedMs: p.finished ? p.elapsedMs : Date.now() - Date.parse(p.started) }
  }

  /** Lists what `path` holds, starts fetching what is missing, and answers with the totals. */
  async start (repo: string, ref: string | undefined, path: string): Promise<PrefetchProgress> {
    const node = await this.o.node()
    const source = new SwarmSource(this.o.store, node.fetcherFor(repo))
    const signal = AbortSignal.timeout(this.o.settings.mountReadyMs)
    const r = await resolveSwarmRepo({ repo, ref, session: this.o.session, source, state: node, signal })
    await fetchStructure(source, r.commit, { signal })
    const clean = normalize(path)
    const blobs = await this.list(source, r.commit, clean, r.catalog?.entries)
    const started = new Date()
    const p: PrefetchProgress = {
      job: this.nextJob++,
      repo,
      ref: r.ref,
      commit: r.commit,
      path: clean,
      total: { objects: blobs.length, bytes: 0 },
      present: { objects: 0, bytes: 0 },
      fetched: { objects: 0, bytes: 0 },
      started: started.toISOString(),
      elapsedMs: 0,
      finished: false,
      error: null
    }
    const missing: Blob[] = []
    for (const b of blobs) {
      const here = await this.o.store.has(b.id)
      if (here) b.size ??= await this.o.store.size(b.id).catch(() => 0)
      p.total.bytes += b.size ?? 0
      if (here) { p.present.objects++; p.present.bytes += b.size ?? 0 } else missing.push(b)
    }
    this.jobs.set(p.job, p)
    while (this.jobs.size > 20) this.jobs.delete(this.jobs.keys().next().value!)
    void this.run(p, source, missing).then(async () => {
      // What we hold, we serve.
      await node.seed(repo).catch(() => {})
    }, (err: unknown) => {
      const e = err instanceof GtfsError ? err : new GtfsError('EUNEXPECTED', (err as Error)?.message ?? String(err))
      p.error = { code: e.code, message: e.message }
      log('prefetch %d: %s', p.job, e.message)
    }).finally(() => {
      p.finished = true
      p.elapsedMs = Date.now() - started.getTime()
    })
    return { ...p }
  }

  private async run (p: PrefetchProgress, source: SwarmSource, missing: Blob[]): Promise<void> {
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < missing.length) {
        const chunk = missing.slice(next, next + CHUNK)
        next += chunk.length
        await source.ensure(chunk.map(b => b.id))
        for (const b of chunk) {
          b.size ??= await this.o.store.size(b.id)
          p.fetched.objects++
          p.fetched.bytes += b.size
        }
      }
    }
    await Promise.all(Array.from({ length: PARALLEL }, worker))
    // Done means on disk, not held in memory for the next pack.
    await this.o.store.flush()
  }

  /** The distinct blobs under `path` (a directory, or one file), with catalog sizes when known. */
  private async list (source: SwarmSource, commit: ObjectId, path: string, sizes?: ReadonlyMap<string, { size?: number }>): Promise<Blob[]> {
    let tree = parseCommit((await source.read(commit)).data, commit).tree
    const parts = path === '/' ? [] : path.slice(1).split('/')
    for (let i = 0; i < parts.length; i++) {
      const e = parseTree((await source.read(tree)).data, tree).entries.find(x => x.name === parts[i])
      const here = '/' + parts.slice(0, i + 1).join('/')
      if (e === undefined) throw new NotFoundError(`${here} is not in commit ${commit}`, { code: 'ENOENT' })
      if (e.kind === 'dir') { tree = e.id; continue }
      if (i < parts.length - 1 || e.kind === 'gitlink') throw new NotFoundError(`${here} is not a directory in commit ${commit}`, { code: 'ENOENT' })
      return [{ id: e.id, size: sizes?.get(here)?.size }]
    }
    const out = new Map<ObjectId, Blob>()
    const stack: Array<[ObjectId, string]> = [[tree, path === '/' ? '' : path]]
    while (stack.length > 0) {
      const [t, dir] = stack.pop()!
      for (const e of parseTree((await source.read(t)).data, t).entries) {
        const p = `${dir}/${e.name}`
        if (e.kind === 'dir') stack.push([e.id, p])
        else if (e.kind !== 'gitlink' && !out.has(e.id)) out.set(e.id, { id: e.id, size: sizes?.get(p)?.size })
      }
    }
    return [...out.values()]
  }
}

function normalize (path: string): string {
  const parts = path.split('/').filter(s => s !== '' && s !== '.')
  if (parts.includes('..')) throw new UsageError('EUSAGE', `the path ${JSON.stringify(path)} may not hold ".."`)
  return '/' + parts.join('/')
}
