/**
 * Real swarms on loopback for tests: a DHT node, gtfs homes that publish,
 * seed and mount through the CLI, helper peer processes (swarm-peers.ts), and
 * the checks every swarm test makes (file contents, git fsck, accepted state).
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { loadAcceptedState } from '../../src/trust/index.ts'
import { forceUnmount, gtfs, gtfsEnv, stopDaemon } from './mounts.ts'
import { startJsonProcess, type Running } from './processes.ts'
import { git, GTFS, must, ROOT, run, tempDir, waitUntil, type RunResult } from './run.ts'

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** Every file of a tree: relative path → mode flag and sha256 (symlinks: their target). */
export async function contents (dir: string, rel = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const p = rel === '' ? name : `${rel}/${name}`
    const st = await lstat(join(dir, p))
    if (st.isDirectory()) for (const [k, v] of await contents(dir, p)) out.set(k, v)
    else if (st.isSymbolicLink()) out.set(p, `-> ${await readlink(join(dir, p))}`)
    else out.set(p, `${(st.mode & 0o111) !== 0 ? 'x' : '-'} ${sha256(await readFile(join(dir, p)))}`)
  }
  return out
}

/** The files of `ref` of a git repository, as `contents` sees them (git archive into `into`). */
export async function archive (repo: string, ref: string, into: string): Promise<Map<string, string>> {
  await mkdir(into, { recursive: true })
  await must('bash', ['-c', 'git -C "$1" archive "$2" | tar -x -C "$3"', '_', repo, ref, into])
  return await contents(into)
}

export async function until (what: string, ms: number, cond: () => Promise<boolean>): Promise<void> {
  await waitUntil(what, cond, ms, 200)
}

export interface RepoSwarmStatus {
  repo: string
  peers: Array<{ address: string, ready: boolean, bytesIn: number, objectsIn: number }>
  banned: Array<{ key: string, reason: string }>
  fetched?: { objects: number, batches: number }
}
export interface DaemonStatus {
  daemon: { pid: number, warnings: Array<{ message: string }>, swarm: { repos: RepoSwarmStatus[] } | null } | null
}

/** `git fsck` of a store (a bare git directory), when there is one; fails the test with git's words. */
export async function fsck (gitDir: string): Promise<void> {
  if (await lstat(gitDir).then(() => false, () => true)) return
  const r = await run('git', ['--git-dir', gitDir, 'fsck', '--strict', '--no-dangling'], { timeoutMs: 120_000 })
  assert.equal(r.code, 0, `git fsck ${gitDir}: ${r.stderr}${r.stdout}`)
}

/** A git repository of `files` files of `bytes` pseudo-random bytes each, under a few directories; one commit. */
export async function makeRepo (dir: string, files: number, bytes: number, seed = 1, dirs = 16): Promise<void> {
  await mkdir(dir, { recursive: true })
  await git(dir, 'init', '-q')
  // a keystream per file, as the wire tests make bytes: incompressible, deterministic
  await must('python3', ['-c', `
import hashlib, os, sys
root, n, size, seed, dirs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
for i in range(n):
    d = os.path.join(root, 'd%02d' % (i % dirs))
    os.makedirs(d, exist_ok=True)
    out = bytearray()
    k = 0
    while len(out) < size:
        out += hashlib.sha256(('%s/%d/%d' % (seed, i, k)).encode()).digest() * 4
        k += 1
    open(os.path.join(d, 'f%04d.bin' % i), 'wb').write(out[:size - (i % 97)])
`, dir, String(files), String(bytes), String(seed), String(dirs)])
  await writeFile(join(dir, 'README'), `a repo of ${files} files\n`)
  await git(dir, 'add', '-A')
  await git(dir, 'commit', '-qm', 'v1')
}

/**
 * A loopback swarm: one DHT node, named gtfs homes under one temp dir, mounts
 * and helper processes that `close()` always ends (use it in after()).
 */
export class Swarm {
  readonly homes: Record<string, string> = {}
  readonly mounts: Array<[string, string]> = []
  readonly helpers: Running[] = []
  env: NodeJS.ProcessEnv = {}

  private constructor (readonly tmp: { path: string, remove: () => Promise<void> }) {}

  static async start (name: string, extra: NodeJS.ProcessEnv = {}): Promise<Swarm> {
    const s = new Swarm(await tempDir(name))
    const dht = await startJsonProcess(process.execPath, [GTFS, 'dht-node', '--json', '--host', '127.0.0.1', '--bootstrap', 'none'], gtfsEnv(s.home('dht')))
    s.helpers.push(dht)
    s.env = { GTFS_BOOTSTRAP: `127.0.0.1:${String(dht.ready.port)}`, GTFS_FOLLOW_MS: '1000', GTFS_LISTEN_HOST: '127.0.0.1', ...extra }
    return s
  }

  get path (): string { return this.tmp.path }

  home (who: string): string {
    this.homes[who] ??= join(this.tmp.path, who)
    return this.homes[who]
  }

  /** The object store of a home: a bare git directory. */
  store (who: string): string { return join(this.home(who), 'data', 'store') }

  async g (who: string, args: string[], extra: NodeJS.ProcessEnv = {}, timeoutMs?: number): Promise<RunResult> {
    return await gtfs(this.home(who), args, { ...this.env, ...extra }, timeoutMs)
  }

  async mustG (who: string, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<string> {
    const r = await this.g(who, args, extra)
    assert.equal(r.code, 0, `${who}: gtfs ${args.join(' ')}: ${r.stderr}`)
    return r.stdout
  }

  /** `who` makes a key, a repo of `gitDir`, publishes it and seeds it; returns the repo key. */
  async publish (who: string, gitDir: string, expires = '1h'): Promise<string> {
    const fpr = (await this.mustG(who, ['key', 'generate', '--name', 'Publisher', '--email', 'pub@example.org'])).trim()
    const key = (await this.mustG(who, ['init', gitDir, '--signer', fpr])).trim()
    await this.mustG(who, ['publish', gitDir, '--expires', expires])
    await this.mustG(who, ['seed', '--json'])
    return key
  }

  async mount (who: string, key: string, dir: string, ...args: string[]): Promise<Record<string, unknown>> {
    await mkdir(dir, { recursive: true })
    this.mounts.push([this.home(who), dir])
    return JSON.parse(await this.mustG(who, ['mount', '--json', key, dir, ...args])) as Record<string, unknown>
  }

  async status (who: string): Promise<DaemonStatus> {
    return JSON.parse(await this.mustG(who, ['status', '--json'])) as DaemonStatus
  }

  async repoStatus (who: string, key: string): Promise<RepoSwarmStatus | undefined> {
    return (await this.status(who)).daemon?.swarm?.repos.find(r => r.repo === key)
  }

  /** The seq of the manifest `who` last accepted for `key` (-1: none). */
  async acceptedSeq (who: string, key: string): Promise<number> {
    return (await loadAcceptedState(join(this.home(who), 'data', 'state'), key))?.seq ?? -1
  }

  /** The seq of the newest manifest `who` published for `key` (its records; -1: none). */
  async publishedSeq (who: string, key: string): Promise<number> {
    const text = await readFile(join(this.home(who), 'data', 'repos', key, 'records.json'), 'utf8').catch(() => null)
    if (text === null) return -1
    const history = (JSON.parse(text) as { history: Record<string, string> }).history
    return Math.max(-1, ...Object.keys(history).map(Number))
  }

  /** Starts peers of `kinds` (swarm-peers.ts) in one process; resolves with their ports. */
  async peers (key: string, kinds: string[], opts: { objects?: string, ports?: number[], rate?: number } = {}): Promise<Running & { ports: Array<{ kind: string, port: number }> }> {
    const args = ['--import', 'tsx', join(ROOT, 'test/helpers/swarm-peers.ts'), key, kinds.join(',')]
    if (opts.objects !== undefined) args.push('--objects', opts.objects)
    if (opts.ports !== undefined) args.push('--ports', opts.ports.join(','))
    if (opts.rate !== undefined) args.push('--rate', String(opts.rate))
    const p = await startJsonProcess(process.execPath, args, { ...process.env, ...this.env, GTFS_TEST: '1' })
    this.helpers.push(p)
    return { ...p, ports: p.ready.peers as Array<{ kind: string, port: number }> }
  }

  async close (): Promise<void> {
    for (const [home, dir] of this.mounts) await forceUnmount(home, dir)
    for (const who of Object.keys(this.homes)) if (who !== 'dht') await stopDaemon(this.homes[who])
    for (const h of this.helpers) await h.stop()
    // GTFS_TEST_KEEP=1 keeps the homes (daemon logs, stores) to look at after a failure
    if (process.env.GTFS_TEST_KEEP === '1') process.stdout.write(`# kept ${this.tmp.path}\n`)
    else await this.tmp.remove()
  }
}

/** One parseable line of counts per fault test: `# faults: <name> k=v …`. */
export function faultLine (name: string, counts: Record<string, number | string>): void {
  process.stdout.write(`# faults: ${name} ${Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(' ')}\n`)
}

/** The seed of a fault run: GTFS_FAULTS_SEED, else `fallback`; printed so a failure can be replayed. */
export function faultSeed (name: string, fallback: number): number {
  const v = process.env.GTFS_FAULTS_SEED
  const seed = v === undefined || v === '' ? fallback : Number(v)
  process.stdout.write(`# faults: ${name} seed=${seed} (replay: GTFS_FAULTS_SEED=${seed})\n`)
  return seed
}

/** Resident memory of a process, bytes: now (VmRSS) and its peak (VmHWM). */
export async function memoryOf (pid: number): Promise<{ rss: number, hwm: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') }
}

/** The pid of the `gtfs daemon` serving GTFS_HOME=`home`, or null when none runs (found in /proc). */
export async function daemonPid (home: string): Promise<number | null> {
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const argv = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0')
      if (!argv.includes('daemon') || !argv.some(a => a.endsWith('/gtfs') || a.endsWith('/gtfs-daemon.cjs'))) continue
      const env = (await readFile(`/proc/${name}/environ`, 'utf8')).split('\0')
      if (env.includes(`GTFS_HOME=${home}`)) return Number(name)
    } catch {}
  }
  return null
}
