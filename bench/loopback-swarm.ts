/**
 * A swarm on loopback for the benchmarks: one DHT node that bootstraps from
 * nobody, and gtfs homes (publishers, seeders, readers) that bootstrap from it.
 * GTFS_TEST=1 everywhere, so no node can fall back to a public router.
 * stop() stops every daemon it ran and the DHT node.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'

export type Sh = (script: string, env?: NodeJS.ProcessEnv) => Promise<string>

/** Starts a gtfs process that prints one JSON object on stdout when ready. */
async function startJson (args: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess, line: string }> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'ignore'] })
  const line = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (c: Buffer) => { out += c.toString(); if (/\}\s*$/.test(out)) resolve(out) })
    child.once('exit', code => { reject(new Error(`${args.join(' ')} exited ${code}`)) })
  })
  return { child, line }
}

export async function stopChild (c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return
  const done = new Promise(resolve => c.once('exit', resolve))
  c.kill('SIGTERM')
  await done
}

export class LoopbackSwarm {
  private readonly homes = new Set<string>()
  private readonly mounts: Array<[string, string]> = []

  private constructor (private readonly gtfsBin: string, private readonly sh: Sh, readonly env: NodeJS.ProcessEnv, private readonly dht: ChildProcess) {}

  static async start (base: string, gtfsBin: string, sh: Sh): Promise<LoopbackSwarm> {
    const env: NodeJS.ProcessEnv = { GTFS_TEST: '1', GTFS_LISTEN_HOST: '127.0.0.1' }
    const dht = await startJson([gtfsBin, 'dht-node', '--host', '127.0.0.1', '--bootstrap', 'none', '--json'], { ...process.env, ...env, GTFS_HOME: join(base, 'dht') })
    const port = (JSON.parse(dht.line) as { port: number }).port
    return new LoopbackSwarm(gtfsBin, sh, { ...env, GTFS_BOOTSTRAP: `127.0.0.1:${port}` }, dht.child)
  }

  /**
   * The command line that runs gtfs (for timing it inside a shell script): the
   * bin itself, as a user's `gtfs` runs, so its `#!` line counts (it drops
   * NODE_EXTRA_CA_CERTS, see bin/gtfs), with this node first on PATH.
   */
  command (args: string): string { return `PATH="${dirname(process.execPath)}:$PATH" "${this.gtfsBin}" ${args}` }

  /** Environment of a gtfs process of `home`. */
  envOf (home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    this.homes.add(home)
    return { ...this.env, ...extra, GTFS_HOME: home }
  }

  async gtfs (home: string, args: string, extra: NodeJS.ProcessEnv = {}): Promise<string> {
    return await this.sh(this.command(args), this.envOf(home, extra))
  }

  /** A signing key, a repo, a signed manifest of `gitDir`, and seeding; returns the repo key. */
  async publish (home: string, gitDir: string, publishArgs = ''): Promise<string> {
    const fpr = (await this.gtfs(home, 'key generate --name Bench --email bench@example.org')).trim()
    const key = (await this.gtfs(home, `init "${gitDir}" --signer ${fpr}`)).trim()
    await this.gtfs(home, `publish "${gitDir}" ${publishArgs}`)
    await this.gtfs(home, 'seed')
    return key
  }

  async mount (home: string, key: string, dir: string): Promise<void> {
    await this.gtfs(home, `mount ${key} "${dir}"`)
    this.mounts.push([home, dir])
  }

  /** A mount made by a timed command of the caller's. */
  mounted (home: string, dir: string): void { this.mounts.push([home, dir]) }

  async umount (home: string, dir: string): Promise<void> {
    const i = this.mounts.findIndex(([h, d]) => h === home && d === dir)
    if (i >= 0) this.mounts.splice(i, 1)
    await this.gtfs(home, `umount "${dir}"`).catch(async () => await this.sh(`fusermount -uz "${dir}"`).catch(() => ''))
  }

  async stopHome (home: string): Promise<void> {
    await this.gtfs(home, 'stop').catch(() => '')
  }

  async stop (): Promise<void> {
    for (const [home, dir] of [...this.mounts]) await this.umount(home, dir)
    for (const h of this.homes) await this.stopHome(h)
    await stopChild(this.dht)
  }
}
