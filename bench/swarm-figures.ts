/**
 * The swarm figures of ../shared/BENCHMARKS.md, on loopback: first-byte,
 * cold-tree, origin-load, swarm-4 and dht-resolve. Real daemons, a real DHT
 * node, and `git daemon` for the baselines. Everything started here is stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { measureDhtResolve } from '../src/swarm/dht-loopback.ts'

export interface Ctx {
  work: string
  gtfsBin: string
  wide: string
  wideBytes: number
  quick: boolean
  say: (msg: string) => void
  sh: (script: string, env?: NodeJS.ProcessEnv) => Promise<string>
  timed: (script: string, env?: NodeJS.ProcessEnv) => Promise<number>
  dropCaches: () => Promise<void>
  record: (id: string, runs: Array<{ gtfs: number, baseline: number }>, unit: string, target: number, higherIsBetter: boolean) => void
  recordValue: (id: string, value: number, unit: string, target: number, note: string) => void
}

async function startJson (cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess, line: string }> {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const line = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (c: Buffer) => { out += c.toString(); if (/\}\s*$/.test(out)) resolve(out) })
    child.once('exit', code => { reject(new Error(`${args.join(' ')} exited ${code}`)) })
  })
  return { child, line }
}

async function stopChild (c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return
  const done = new Promise(resolve => c.once('exit', resolve))
  c.kill('SIGTERM')
  await done
}

export async function swarmFigures (ctx: Ctx): Promise<void> {
  const base = join(ctx.work, 'swarm')
  await rm(base, { recursive: true, force: true })
  await mkdir(base, { recursive: true })
  const children: ChildProcess[] = []
  const homes: string[] = []
  const mounts: Array<[string, string]> = []
  let env: NodeJS.ProcessEnv = { GTFS_TEST: '1', GTFS_LISTEN_HOST: '127.0.0.1' }
  const gtfs = (home: string, args: string, extra: NodeJS.ProcessEnv = {}): Promise<string> => {
    if (!homes.includes(home)) homes.push(home)
    return ctx.sh(`"${process.execPath}" "${ctx.gtfsBin}" ${args}`, { ...env, ...extra, GTFS_HOME: home })
  }
  const readAll = (dir: string): string => `cd "${dir}" && find . -type f -print0 | xargs -0 -P 8 -n 64 cat > /dev/null`
  try {
    ctx.say('dht-resolve: a 50-node DHT on loopback, 20 pointer gets')
    const r = await measureDhtResolve({ nodes: 50, rounds: 20 })
    ctx.recordValue('dht-resolve', r.p50Ms, 'ms', 300, `p50 of ${r.rounds} gets, p90 ${r.p90Ms.toFixed(1)} ms, ${r.found}/${r.rounds} found`)

    const dht = await startJson(process.execPath, [ctx.gtfsBin, 'dht-node', '--host', '127.0.0.1', '--bootstrap', 'none', '--json'], { ...process.env, ...env, GTFS_HOME: join(base, 'dht') })
    children.push(dht.child)
    env = { ...env, GTFS_BOOTSTRAP: `127.0.0.1:${(JSON.parse(dht.line) as { port: number }).port}` }
    ctx.say(`publishing the wide repo (${ctx.wideBytes} bytes) from a seeder`)
    const pub = join(base, 'publisher')
    const fpr = (await gtfs(pub, 'key generate --name Bench --email bench@example.org')).trim()
    const key = (await gtfs(pub, `init "${ctx.wide}" --signer ${fpr}`)).trim()
    await gtfs(pub, `publish "${ctx.wide}"`)
    await gtfs(pub, 'seed')
    const probe = (await ctx.sh(`git -C "${ctx.wide}" ls-tree -r -l main | awk '$4 >= 3500 && $4 <= 4700 {print $5; exit}'`)).trim()

    // git daemon, the baseline for first-byte and cold-tree.
    const gitPort = 20000 + Math.floor(Math.random() * 20000)
    const gd = spawn('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${join(ctx.wide, '..')}`, '--listen=127.0.0.1', `--port=${gitPort}`, join(ctx.wide, '..')], { stdio: 'ignore' })
    children.push(gd)
    await new Promise(resolve => setTimeout(resolve, 500))
    const url = `git://127.0.0.1:${gitPort}/wide`

    ctx.say('first-byte, cold-tree: a fresh reader each run, empty cache, 1 seeder')
    const fb: Array<{ gtfs: number, baseline: number }> = []
    const ct: Array<{ gtfs: number, baseline: number }> = []
    for (let i = 0; i < 3; i++) {
      const reader = join(base, `reader-${i}`)
      const mnt = join(base, `mnt-${i}`)
      await mkdir(mnt, { recursive: true })
      // "Empty cache" is gtfs's: a new GTFS_HOME. The page cache stays warm on both
      // sides, as on a machine where gtfs and git are in use.
      homes.push(reader)
      const g1 = await ctx.timed(`"${process.execPath}" "${ctx.gtfsBin}" mount ${key} "${mnt}" >/dev/null && head -c 1 "${mnt}/${probe}" >/dev/null`, { ...env, GTFS_HOME: reader })
      mounts.push([reader, mnt])
      await gtfs(reader, `umount "${mnt}"`)
      await gtfs(reader, 'stop')
      const b1 = await ctx.timed(`rm -rf "${base}/clone-${i}" && git clone -q ${url} "${base}/clone-${i}" && test -e "${base}/clone-${i}/${probe}"`)
      fb.push({ gtfs: g1, baseline: b1 })

      const reader2 = join(base, `cold-${i}`)
      homes.push(reader2)
      const g2 = await ctx.timed(`"${process.execPath}" "${ctx.gtfsBin}" mount ${key} "${mnt}" >/dev/null && ${readAll(mnt)}`, { ...env, GTFS_HOME: reader2 })
      await gtfs(reader2, `umount "${mnt}"`)
      await gtfs(reader2, 'stop')
      const b2 = await ctx.timed(`rm -rf "${base}/shallow-${i}" && git clone -q --depth 1 ${url} "${base}/shallow-${i}"`)
      ct.push({ gtfs: g2, baseline: b2 })
    }
    mounts.length = 0
    ctx.record('first-byte', fb, 's', 0.05, false)
    ctx.record('cold-tree', ct, 's', 1.0, false)

    ctx.say('origin-load: 8 readers one after another, each seeding after')
    const seeders: string[] = []
    for (let i = 0; i < 8; i++) {
      const reader = join(base, `load-${i}`)
      const mnt = join(base, `load-mnt-${i}`)
      await mkdir(mnt, { recursive: true })
      await gtfs(reader, `mount ${key} "${mnt}"`)
      mounts.push([reader, mnt])
      await ctx.sh(readAll(mnt))
      await gtfs(reader, `umount "${mnt}"`)
      mounts.pop()
      seeders.push(reader)
    }
    const st = JSON.parse(await gtfs(pub, 'status --json')) as { daemon: { swarm: { repos: Array<{ peers: Array<{ bytesOut: number }> }> } } }
    const uploaded = st.daemon.swarm.repos.flatMap(x => x.peers).reduce((n, p) => n + p.bytesOut, 0)
    ctx.recordValue('origin-load', uploaded / ctx.wideBytes, 'x repo size', 1.5, `the publisher uploaded ${uploaded} bytes to 8 readers of a ${ctx.wideBytes}-byte tree (peers still connected)`)

    // swarm-4: 4 seeders at the same upload rate against 1.
    const rate = ctx.quick ? 8 * 2 ** 20 : 16 * 2 ** 20
    ctx.say(`swarm-4: every seeder limited to ${rate} bytes/s (GTFS_UPLOAD_RATE)`)
    for (const h of seeders.slice(3)) await gtfs(h, 'stop')
    for (const h of [pub, ...seeders.slice(0, 3)]) {
      await gtfs(h, 'stop')
      await gtfs(h, `seed ${key}`, { GTFS_UPLOAD_RATE: String(rate) })
    }
    const timeReader = async (name: string): Promise<number> => {
      const reader = join(base, name)
      const mnt = join(base, `${name}-mnt`)
      await mkdir(mnt, { recursive: true })
      homes.push(reader)
      const t = await ctx.timed(`"${process.execPath}" "${ctx.gtfsBin}" mount ${key} "${mnt}" >/dev/null && ${readAll(mnt)}`, { ...env, GTFS_HOME: reader })
      await gtfs(reader, `umount "${mnt}"`)
      await gtfs(reader, 'stop')
      return t
    }
    const t4 = await timeReader('swarm4-reader')
    for (const h of seeders.slice(0, 3)) await gtfs(h, 'stop')
    const t1 = await timeReader('swarm1-reader')
    ctx.record('swarm-4', [{ gtfs: t4, baseline: t1 }], 's', 3.5, true)
  } finally {
    for (const [home, dir] of mounts) await gtfs(home, `umount "${dir}"`).catch(async () => await ctx.sh(`fusermount -uz "${dir}"`).catch(() => ''))
    for (const h of homes) await gtfs(h, 'stop').catch(() => '')
    for (const c of children) await stopChild(c)
  }
}
