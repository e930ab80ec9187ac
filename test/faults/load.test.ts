/**
 * Load: 64 concurrent readers over one mount for a bounded time
 * (GTFS_FAULTS_LOAD_SECONDS, default 60), starting with an empty cache, so
 * reads fetch from the swarm and hit the store at once. Pass: no error, no
 * wrong byte, and the daemon's peak resident memory (VmHWM) stays under
 * 400 MiB — its object cache is 64 MiB (GTFS_OBJECT_CACHE_BYTES), Node's own
 * heap and code ~100 MiB, the wire at most 16 requests × 64 KiB per peer, and
 * blobs over 4 MiB are read from unpacked files, not memory; 400 MiB is that
 * with room for the kernel's FUSE buffers and GC lag, and well under what a
 * leak of the read path would reach in a minute.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { join } from 'node:path'
import { git, must, ROOT, run } from '../helpers/run.ts'
import { daemonPid, faultLine, faultSeed, makeRepo, memoryOf, Swarm } from '../helpers/swarm.ts'

const READERS = 64
const MEMORY_BOUND = 400 * 2 ** 20

let s: Swarm
before(async () => { s = await Swarm.start('faults-load') })
after(async () => { await s.close() })

test(`${READERS} concurrent readers: no error, no wrong byte, memory under its bound`, async () => {
  const seed = faultSeed('load', 0x10ad)
  const seconds = Number(process.env.GTFS_FAULTS_LOAD_SECONDS ?? 60)
  const repo = join(s.path, 'site')
  await makeRepo(repo, 192, 48_000, 7)
  // a few blobs over the 4 MiB large-blob threshold: served from unpacked files
  await must('python3', ['-c', 'import sys\nfor i in range(3): open(f"{sys.argv[1]}/large{i}.bin", "wb").write(bytes((j * 31 + i) % 251 for j in range(6 * 2**20 + i)))', repo])
  await git(repo, 'add', '-A')
  await git(repo, 'commit', '-qm', 'large files')
  const key = await s.publish('a', repo)
  const mr = join(s.path, 'mr')
  await s.mount('r', key, mr)
  const pid = await daemonPid(s.home('r'))
  assert.ok(pid !== null, 'the reader\'s daemon runs')

  let peak = 0
  const sampler = setInterval(() => { void memoryOf(pid).then(m => { peak = Math.max(peak, m.hwm) }, () => {}) }, 1000)
  const r = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'test/faults/load-readers.ts'), mr, repo, String(READERS), String(seconds), String(seed)], {
    env: { ...process.env, UV_THREADPOOL_SIZE: String(READERS) }, timeoutMs: (seconds + 120) * 1000
  }).finally(() => { clearInterval(sampler) })
  assert.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout) as { reads: number, bytes: number, errors: number, wrong: number, firstError: string | null }
  peak = Math.max(peak, (await memoryOf(pid)).hwm)
  await s.mustG('r', ['umount', mr])
  faultLine('load', { seed, readers: READERS, seconds, reads: out.reads, bytes: out.bytes, errors: out.errors, wrong: out.wrong, peakRssMiB: Math.round(peak / 2 ** 20), boundMiB: MEMORY_BOUND / 2 ** 20, lost: out.errors + out.wrong })
  assert.equal(out.errors, 0, `reads failed: ${out.firstError ?? ''}`)
  assert.equal(out.wrong, 0, `wrong bytes: ${out.firstError ?? ''}`)
  assert.ok(out.reads > READERS, `only ${out.reads} reads`)
  assert.ok(peak < MEMORY_BOUND, `the daemon's peak RSS ${Math.round(peak / 2 ** 20)} MiB is over ${MEMORY_BOUND / 2 ** 20} MiB`)
})
