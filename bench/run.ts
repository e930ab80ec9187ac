/**
 * npm run bench [-- --quick]: gtfs against a baseline measured in the same run
 * (../shared/BENCHMARKS.md). Each figure is the median of the pairwise ratios
 * of at least 3 runs. Prints one line a figure and writes bench/results/latest.json.
 *
 * Local figures: read-warm, read-cached, meta-walk, small-read (local store
 * against ext4), rss, and floor-* references: the same walks over a trivial
 * in-memory filesystem mounted through the same transport (bench/fuse-floor.ts),
 * i.e. what FUSE costs by itself.
 * Swarm figures (swarm-figures.ts): dht-resolve, first-byte, cold-tree,
 * origin-load, swarm-4; and distro-start (distro.ts).
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { listTree, mountFloor } from './fuse-floor.ts'
import { distroFigure } from './distro.ts'
import { LoopbackSwarm } from './loopback-swarm.ts'
import { swarmFigures } from './swarm-figures.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const GTFS = join(ROOT, 'bin', 'gtfs')
const quick = process.argv.includes('--quick')
const RUNS = 3
/**
 * The read figures take 5 runs (a run is a few seconds): the first read after
 * the fetch overlaps the daemon's sealing of the blob and the writing of its
 * plain copy (for passthrough opens), and with 3 runs that one run weighed
 * on the median as much as the steady state.
 */
const READ_RUNS = 5
const WORK = process.env.GTFS_BENCH_DIR ?? join('/var/tmp', `gtfs-bench-${quick ? 'quick' : 'full'}`)
const HOME = join(WORK, 'home')

function say (msg: string): void { process.stderr.write(`bench: ${msg}\n`) }

async function sh (script: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { env: { ...process.env, GTFS_HOME: HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    child.stderr.on('data', (c: Buffer) => { err += c.toString() })
    child.on('close', code => { if (code === 0) resolve(out); else reject(new Error(`${script}: exit ${code}: ${err}`)) })
  })
}

/** Seconds a shell command takes. */
async function timed (script: string, env: NodeJS.ProcessEnv = {}): Promise<number> {
  const t0 = process.hrtime.bigint()
  await sh(script, env)
  return Number(process.hrtime.bigint() - t0) / 1e9
}

async function dropCaches (): Promise<void> {
  await sh('sync; echo 3 > /proc/sys/vm/drop_caches')
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

interface Figure {
  id: string
  ratio: number
  gtfs: number
  baseline: number
  unit: string
  target: string
  met: boolean
  runs: Array<{ gtfs: number, baseline: number }>
}

const figures: Figure[] = []

/**
 * `higherIsBetter`: the ratio is baseline time / gtfs time (a speed ratio);
 * otherwise gtfs time / baseline time (how many times slower).
 */
function record (id: string, runs: Array<{ gtfs: number, baseline: number }>, unit: string, target: number, higherIsBetter: boolean, toValue = (s: number) => s): void {
  const ratios = runs.map(r => higherIsBetter ? r.baseline / r.gtfs : r.gtfs / r.baseline)
  const ratio = median(ratios)
  const f: Figure = {
    id,
    ratio: Number(ratio.toFixed(3)),
    gtfs: Number(toValue(median(runs.map(r => r.gtfs))).toFixed(3)),
    baseline: Number(toValue(median(runs.map(r => r.baseline))).toFixed(3)),
    unit,
    target: `${higherIsBetter ? '>=' : '<='} ${target}`,
    met: higherIsBetter ? ratio >= target : ratio <= target,
    runs
  }
  figures.push(f)
  const reference = id.startsWith('floor-') || id.startsWith('ref-')
  process.stdout.write(`${id} ${f.ratio.toFixed(2)} (${f.gtfs} vs ${f.baseline} ${unit}) ${reference ? 'reference: no target' : `target ${f.target}${f.met ? '' : '  MISSED'}`}\n`)
}

/** A figure with no baseline: the value itself against its target (lower is better). */
function recordValue (id: string, value: number, unit: string, target: number, note: string): void {
  const f: Figure = { id, ratio: Number(value.toFixed(3)), gtfs: Number(value.toFixed(3)), baseline: NaN, unit, target: `<= ${target}`, met: value <= target, runs: [] }
  figures.push(f)
  const reference = id.startsWith('floor-') || id.startsWith('ref-')
  process.stdout.write(`${id} ${value.toFixed(2)} (${value.toFixed(2)} ${unit}; ${note}) ${reference ? `reference: no target (compare ${target})` : `target <= ${target}${f.met ? '' : '  MISSED'}`}\n`)
}

async function mount (repo: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  await sh(`"${process.execPath}" "${GTFS}" mount --git-dir "${repo}" "${dir}"`)
}

async function umount (dir: string): Promise<void> {
  await sh(`"${process.execPath}" "${GTFS}" umount "${dir}" >/dev/null 2>&1 || fusermount -uz "${dir}" 2>/dev/null || true`)
}

/**
 * Groups of figures: read (read-warm, read-cached), walk (meta-walk,
 * small-read, floor-*), rss, swarm (dht-resolve, first-byte, cold-tree,
 * origin-load, swarm-4), distro. `--only=read,rss` runs some; `--swarm-only`
 * is swarm + distro, `--local-only` the others.
 */
const GROUPS = ['read', 'walk', 'rss', 'swarm', 'distro'] as const
type Group = typeof GROUPS[number]
const onlyArg = process.argv.find(a => a.startsWith('--only='))?.slice('--only='.length)
const selected = new Set<Group>(onlyArg !== undefined
  ? onlyArg.split(',').map(g => { if (!(GROUPS as readonly string[]).includes(g)) throw new Error(`--only: unknown group ${g} (${GROUPS.join(', ')})`); return g as Group })
  : process.argv.includes('--swarm-only') ? ['swarm', 'distro'] : process.argv.includes('--local-only') ? ['read', 'walk', 'rss'] : GROUPS)
const want = (g: Group): boolean => selected.has(g)

async function main (): Promise<void> {
  say(`${quick ? 'quick' : 'full'} run in ${WORK}`)
  await mkdir(WORK, { recursive: true })
  await sh(`bash "${join(ROOT, 'scripts', 'make-bench-fixtures.sh')}" "${join(WORK, 'fixtures')}" ${quick ? '--quick' : ''} >&2`)
  const large = join(WORK, 'fixtures', 'large')
  const wide = join(WORK, 'fixtures', 'wide')
  const ext4 = join(WORK, 'ext4')
  if (!existsSync(join(ext4, '.complete'))) {
    say('extracting the baseline trees onto the local disk')
    await rm(ext4, { recursive: true, force: true })
    await mkdir(join(ext4, 'large'), { recursive: true })
    await mkdir(join(ext4, 'wide'), { recursive: true })
    await sh(`git -C "${large}" archive main | tar -x -C "${ext4}/large" && git -C "${wide}" archive main | tar -x -C "${ext4}/wide" && touch "${ext4}/.complete"`)
  }
  const mnt = join(WORK, 'mnt')
  const bigName = 'large.bin'
  const bigBytes = Number((await sh(`stat -c %s "${ext4}/large/${bigName}"`)).trim())
  const mib = bigBytes / 2 ** 20
  const unpacked = join(HOME, 'cache', 'unpacked')
  const walk = (dir: string): string => `find "${dir}" -printf '%s %m %i\\n' > /dev/null`
  const readAll = (dir: string): string => `cd "${dir}" && find . -type f -print0 | xargs -0 -n 2000 cat > /dev/null`

  try {
    if (want('read')) {
      // read-cached: first read, the file's blob already in the local store, page cache dropped.
      // read-warm: the second pass of the same file, from the page cache on both sides.
      // The store is a reader's: gtfs's own, filled by a fetch from a seeder on
      // loopback, as on a machine that mounted the repo by key before.
      say(`read-cached, read-warm: ${mib} MiB file in a reader's store, ${READ_RUNS} runs`)
      const readBase = join(WORK, 'read-swarm')
      await rm(readBase, { recursive: true, force: true })
      const swarm = await LoopbackSwarm.start(readBase, GTFS, sh)
      const cached: Array<{ gtfs: number, baseline: number }> = []
      const warm: Array<{ gtfs: number, baseline: number }> = []
      try {
        const key = await swarm.publish(join(readBase, 'publisher'), large)
        const reader = join(readBase, 'reader')
        const rmnt = join(readBase, 'mnt')
        await mkdir(rmnt, { recursive: true })
        const tf = process.hrtime.bigint()
        await swarm.mount(reader, key, rmnt)
        await sh(`cat "${rmnt}/${bigName}" > /dev/null`)
        say(`  fetched into the reader's store in ${(Number(process.hrtime.bigint() - tf) / 1e9).toFixed(2)} s (mount included)`)
        await swarm.umount(reader, rmnt)
        for (let i = 0; i < READ_RUNS; i++) {
          await swarm.mount(reader, key, rmnt)
          await dropCaches()
          const g1 = await timed(`cat "${rmnt}/${bigName}" > /dev/null`)
          const g2 = await timed(`cat "${rmnt}/${bigName}" > /dev/null`)
          await swarm.umount(reader, rmnt)
          await dropCaches()
          const b1 = await timed(`cat "${ext4}/large/${bigName}" > /dev/null`)
          const b2 = await timed(`cat "${ext4}/large/${bigName}" > /dev/null`)
          cached.push({ gtfs: g1, baseline: b1 })
          warm.push({ gtfs: g2, baseline: b2 })
        }
      } finally {
        await swarm.stop()
      }
      const mbps = (s: number): number => mib / s
      record('read-warm', warm, 'MiB/s', 0.9, true, mbps)
      record('read-cached', cached, 'MiB/s', 0.6, true, mbps)

      // The floor: the same reads from a trivial filesystem that serves zeros from
      // memory (nothing behind it), mounted through gtfs's FUSE transport: what FUSE's
      // READ replies cost. gtfs's opens of a file with a plain copy do without them (passthrough).
      say(`floor-read-cached, floor-read-warm: a ${mib} MiB file of zeros from a trivial filesystem on the same FUSE transport`)
      const floorCached: Array<{ gtfs: number, baseline: number }> = []
      const floorWarm: Array<{ gtfs: number, baseline: number }> = []
      const one = new Map([['/', { dir: true, size: 4096, ino: 1, children: [bigName] }], [`/${bigName}`, { dir: false, size: bigBytes, ino: 2 }]])
      for (let i = 0; i < RUNS; i++) {
        const dir = join(mnt, 'floor-read')
        await mkdir(dir, { recursive: true })
        const unmount = await mountFloor(one, dir)
        try {
          await dropCaches()
          floorCached.push({ gtfs: await timed(`cat "${dir}/${bigName}" > /dev/null`), baseline: cached[i].baseline })
          floorWarm.push({ gtfs: await timed(`cat "${dir}/${bigName}" > /dev/null`), baseline: warm[i].baseline })
        } finally {
          await unmount()
        }
      }
      record('floor-read-warm', floorWarm, 'MiB/s', 0.9, true, mbps)
      record('floor-read-cached', floorCached, 'MiB/s', 0.6, true, mbps)

      // The same from the publisher's own git repository (mount --git-dir): git's
      // pack is zlib-compressed, so a first read inflates it (into an unpacked file).
      say(`ref-gitdir-read-cached: the same file from git's own pack, ${RUNS} runs`)
      const gitdir: Array<{ gtfs: number, baseline: number }> = []
      for (let i = 0; i < RUNS; i++) {
        await rm(unpacked, { recursive: true, force: true })
        await mount(large, join(mnt, 'large'))
        await dropCaches()
        const g1 = await timed(`cat "${mnt}/large/${bigName}" > /dev/null`)
        await umount(join(mnt, 'large'))
        gitdir.push({ gtfs: g1, baseline: cached[i].baseline })
      }
      record('ref-gitdir-read-cached', gitdir, 'MiB/s', 0.6, true, mbps)
    }
    if (want('walk')) {
      // meta-walk: find + stat over the wide tree, second pass. small-read: read every file once, page cache dropped.
      say(`meta-walk, small-read: wide tree, ${RUNS} runs`)
      const meta: Array<{ gtfs: number, baseline: number }> = []
      const small: Array<{ gtfs: number, baseline: number }> = []
      for (let i = 0; i < RUNS; i++) {
        await mount(wide, join(mnt, 'wide'))
        await dropCaches()
        const gs = await timed(readAll(join(mnt, 'wide')))
        await timed(walk(join(mnt, 'wide')))
        const gm = await timed(walk(join(mnt, 'wide')))
        await umount(join(mnt, 'wide'))
        await dropCaches()
        const bs = await timed(readAll(join(ext4, 'wide')))
        await timed(walk(join(ext4, 'wide')))
        const bm = await timed(walk(join(ext4, 'wide')))
        meta.push({ gtfs: gm, baseline: bm })
        small.push({ gtfs: gs, baseline: bs })
    }
    record('meta-walk', meta, 's', 1.5, false)
    record('small-read', small, 's', 3, false)

    // The same walks over a trivial in-memory filesystem of the same shape on the
    // same FUSE transport: the part of each figure that FUSE costs by itself.
    say('floor: the same walks over a trivial filesystem of the same shape on the same FUSE transport')
    const tree = await listTree(wide)
    const floorMeta: Array<{ gtfs: number, baseline: number }> = []
    const floorSmall: Array<{ gtfs: number, baseline: number }> = []
    for (let i = 0; i < RUNS; i++) {
      const dir = join(mnt, 'floor')
      await mkdir(dir, { recursive: true })
      const unmount = await mountFloor(tree, dir)
      try {
        await dropCaches()
        const fs = await timed(readAll(dir))
        await timed(walk(dir))
        const fm = await timed(walk(dir))
        floorMeta.push({ gtfs: fm, baseline: meta[i].baseline })
        floorSmall.push({ gtfs: fs, baseline: small[i].baseline })
      } finally {
        await unmount()
      }
    }
    record('floor-meta-walk', floorMeta, 's', 1.5, false)
    record('floor-small-read', floorSmall, 's', 3, false)
    }
    if (want('rss')) {

      // rss: a fresh daemon serves 2 GiB of content: the wide tree once, then the
      // large file again and again with the page cache dropped and its unpacked
      // copy removed, so every byte goes through the daemon's inflate path.
      await sh(`"${process.execPath}" "${GTFS}" stop >/dev/null 2>&1 || true`)
      await mount(wide, join(mnt, 'wide'))
      const pid = (JSON.parse(await sh(`"${process.execPath}" "${GTFS}" status --json`)) as { daemon: { pid: number } }).daemon.pid
      const wideServed = Number((await sh(`find "${ext4}/wide" -type f -printf '%s\\n' | awk '{s += $1} END {print s}'`)).trim())
      await dropCaches()
      await sh(readAll(join(mnt, 'wide')))
      await umount(join(mnt, 'wide'))
      let served = wideServed
      let passes = 0
      while (served < 2 * 2 ** 30) {
        await rm(unpacked, { recursive: true, force: true })
        await mount(large, join(mnt, 'large'))
        await dropCaches()
        await sh(`cat "${mnt}/large/${bigName}" > /dev/null`)
        await umount(join(mnt, 'large'))
        served += bigBytes
        passes++
    }
    const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024
    recordValue('rss', hwm, 'MiB', 200, `peak RSS (VmHWM) of the daemon serving ${(served / 2 ** 30).toFixed(2)} GiB: the wide tree, then the ${mib} MiB file ${passes} times`)
    }
    // A failed group is reported and the run goes on: the other figures still count.
    const failed = (group: string) => (err: Error): void => {
      say(`${group}: FAILED: ${err.message.split('\n').slice(-3).join(' ')}`)
      process.exitCode = 1
    }
    if (want('swarm')) {
      const wideBytes = Number((await sh(`git -C "${wide}" ls-tree -r -l main | awk '{s += $4} END {print s}'`)).trim())
      await swarmFigures({ work: WORK, gtfsBin: GTFS, wide, wideBytes, quick, say, sh, timed, dropCaches, record, recordValue }).catch(failed('swarm'))
    }
    if (want('distro')) await distroFigure({ work: WORK, gtfsBin: GTFS, quick, say, sh, recordValue }).catch(failed('distro'))
  } finally {
    await umount(join(mnt, 'large'))
    await umount(join(mnt, 'wide'))
    await sh(`"${process.execPath}" "${GTFS}" stop >/dev/null 2>&1 || true`)
  }

  const out = join(ROOT, 'bench', 'results')
  await mkdir(out, { recursive: true })
  // A run of some groups (--only) keeps the other figures of an earlier run of
  // the same size, each with the date it was measured.
  const date = new Date().toISOString()
  let kept: Array<Figure & { date?: string }> = []
  if (onlyArg !== undefined) {
    const before = JSON.parse(await readFile(join(out, 'latest.json'), 'utf8').catch(() => '{}')) as { mode?: string, date?: string, figures?: Array<Figure & { date?: string }> }
    if (before.mode === (quick ? 'quick' : 'full')) kept = (before.figures ?? []).filter(f => !figures.some(g => g.id === f.id)).map(f => ({ ...f, date: f.date ?? before.date }))
  }
  await writeFile(join(out, 'latest.json'), JSON.stringify({
    date,
    mode: quick ? 'quick' : 'full',
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    sizes: { largeFileBytes: bigBytes, wideFiles: Number((await sh(`find "${ext4}/wide" -type f | wc -l`)).trim()) },
    figures: [...kept, ...figures.map(f => ({ ...f, date }))]
  }, null, 2) + '\n')
  say(`wrote bench/results/latest.json`)
  if ((await readFile('/proc/self/mountinfo', 'utf8')).includes(mnt)) throw new Error('a benchmark mount was left behind')
}

main().catch(err => {
  process.stderr.write(`bench: ${(err as Error).message}\n`)
  process.exitCode = 1
})
