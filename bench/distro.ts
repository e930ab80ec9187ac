/**
 * distro-start (../shared/BENCHMARKS.md): a root filesystem published by a
 * seeder on a loopback swarm, mounted by key on an empty cache, and a chroot
 * into it running a few commands. The figure is the bytes the reader fetched
 * (trees, catalog and blobs, everything its swarm node counted) against the
 * root filesystem's size.
 *
 * The root is a Debian minbase built by debootstrap (cached in
 * /var/tmp/gtfs-bench-debian; the full run builds it when debootstrap and the
 * package mirror are there, and says so when they are not), else the figure
 * is skipped. A quick run uses the cached root only.
 */
import { existsSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { LoopbackSwarm } from './loopback-swarm.ts'

export interface DistroCtx {
  work: string
  gtfsBin: string
  quick: boolean
  say: (msg: string) => void
  sh: (script: string, env?: NodeJS.ProcessEnv) => Promise<string>
  recordValue: (id: string, value: number, unit: string, target: number, note: string) => void
}

const DEBIAN = process.env.GTFS_BENCH_DEBIAN ?? '/var/tmp/gtfs-bench-debian'
const COMMAND = "apt --version; ls /usr/share/doc | wc -l"

/** The cached minbase root, built when missing (full run only); null when it cannot be had. */
async function debianRoot (ctx: DistroCtx): Promise<string | null> {
  const root = join(DEBIAN, 'root')
  if (existsSync(join(DEBIAN, '.complete'))) return root
  if (ctx.quick) {
    ctx.say(`distro-start: skipped: no cached Debian minbase in ${DEBIAN} (the full run builds it)`)
    return null
  }
  try {
    await ctx.sh('command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2')
    ctx.say(`distro-start: building a Debian minbase with debootstrap in ${root} (a few minutes, once)`)
    await rm(DEBIAN, { recursive: true, force: true })
    await mkdir(DEBIAN, { recursive: true })
    const mirror = process.env.GTFS_BENCH_MIRROR ?? 'http://deb.debian.org/debian'
    await ctx.sh(`debootstrap --variant=minbase bookworm "${root}" "${mirror}" > "${DEBIAN}/debootstrap.log" 2>&1 && touch "${DEBIAN}/.complete"`)
    return root
  } catch (err) {
    ctx.say(`distro-start: skipped: debootstrap failed (${(err as Error).message.split('\n')[0]}); see ${DEBIAN}/debootstrap.log`)
    return null
  }
}

interface FetchStatus { daemon: { swarm: { repos: Array<{ fetched: { bytes: number, objects: number } }> } | null } | null }

export async function distroFigure (ctx: DistroCtx): Promise<void> {
  const root = await debianRoot(ctx)
  if (root === null) return
  const base = join(ctx.work, 'distro')
  await rm(base, { recursive: true, force: true })
  await mkdir(base, { recursive: true })
  const reader = join(base, 'reader')
  const mnt = join(base, 'mnt')
  await mkdir(mnt, { recursive: true })
  const swarm = await LoopbackSwarm.start(base, ctx.gtfsBin, ctx.sh)
  try {
    const rootBytes = Number((await ctx.sh(`find "${root}" -xdev -type f -printf '%s\\n' | awk '{s += $1} END {print s}'`)).trim())
    ctx.say(`distro-start: publishing ${root} (${(rootBytes / 2 ** 20).toFixed(1)} MiB of files) with --rootfs from a seeder`)
    const gitDir = join(base, 'os.git')
    await ctx.sh(`git init -q --bare "${gitDir}"`)
    const key = await swarm.publish(join(base, 'publisher'), gitDir, `--rootfs "${root}" --ref refs/heads/main`)

    ctx.say(`distro-start: a reader with an empty cache mounts it by key and runs: chroot <mount> /usr/bin/env bash -c '${COMMAND}'`)
    const t0 = process.hrtime.bigint()
    await swarm.mount(reader, key, mnt)
    const out = await ctx.sh(`chroot "${mnt}" /usr/bin/env bash -c '${COMMAND}'`)
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9
    const st = JSON.parse(await swarm.gtfs(reader, 'status --json')) as FetchStatus
    const repos = st.daemon?.swarm?.repos ?? []
    const fetched = repos.reduce((n, r) => n + r.fetched.bytes, 0)
    const objects = repos.reduce((n, r) => n + r.fetched.objects, 0)
    ctx.say(`distro-start: the command printed: ${out.trim().split('\n').join(' | ')}`)
    ctx.recordValue('distro-start', fetched / rootBytes, 'of the root', 0.10,
      `${fetched} bytes in ${objects} objects fetched of a ${rootBytes}-byte Debian minbase; mount + chroot took ${seconds.toFixed(2)} s`)
  } finally {
    await swarm.stop()
  }
}
