/**
 * Churn: four seeders of a large repo are killed (SIGKILL) and restarted at
 * random (seeded) while a reader with an empty cache reads every file, with
 * at least one of them up at any time. Pass: every read completes with the
 * right bytes; then, with every holder gone, a read of a file nobody has
 * given the reader yet fails with EIO within its deadline, and only then.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Running } from '../helpers/processes.ts'
import { rng } from '../helpers/rng.ts'
import { git, run } from '../helpers/run.ts'
import { archive, faultLine, faultSeed, makeRepo, sha256, Swarm } from '../helpers/swarm.ts'

const SEEDERS = 4
const DEADLINE_MS = 8000
/** bytes/s each seeder uploads: the fetch lasts long enough to churn through */
const RATE = 512 * 1024

let s: Swarm
before(async () => { s = await Swarm.start('faults-churn', { GTFS_READ_DEADLINE_MS: String(DEADLINE_MS) }) })
after(async () => { await s.close() })

test('seeders killed and restarted during a fetch: it completes from the others, no wrong byte, EIO only with no holder left', async () => {
  const seed = faultSeed('churn', 0xc5e7)
  const rand = rng(seed)
  const repo = join(s.path, 'site')
  await makeRepo(repo, 160, 128_000, 11)
  // files nobody reads until every holder is gone
  await mkdir(join(repo, 'reserve'))
  // over 64 KiB: neither sibling prefetch nor readahead fetches them on a guess
  for (let i = 0; i < 4; i++) await writeFile(join(repo, 'reserve', `r${i}.txt`), `kept back ${i} ${seed}\n`.repeat(8000))
  await git(repo, 'add', '-A')
  await git(repo, 'commit', '-qm', 'reserve')
  const key = await s.publish('a', repo)
  const objects = join(repo, '.git', 'objects')
  const seeders: Array<{ port: number, run: Running | null }> = []
  for (let i = 0; i < SEEDERS; i++) {
    const p = await s.peers(key, ['honest'], { objects, rate: RATE })
    seeders.push({ port: p.ports[0].port, run: p })
  }
  const mr = join(s.path, 'mr')
  await s.mount('r', key, mr, '--pin')
  // the publisher goes: from now on only the churning seeders hold the objects
  await s.mustG('a', ['stop'])

  const want = await archive(repo, 'HEAD', join(s.path, 'archive'))
  const files = [...want.keys()].filter(p => !p.startsWith('reserve/') && want.get(p)!.startsWith('-'))
  let kills = 0
  let restarts = 0
  let churning = true
  const churn = (async () => {
    while (churning) {
      await new Promise(resolve => setTimeout(resolve, 100 + Math.floor(rand() * 400)))
      const up = seeders.filter(x => x.run !== null)
      const down = seeders.filter(x => x.run === null)
      if (down.length > 0 && (up.length === 1 || rand() < 0.5)) {
        const x = down[Math.floor(rand() * down.length)]
        x.run = await s.peers(key, ['honest'], { objects, rate: RATE, ports: [x.port] })
        restarts++
      } else if (up.length > 1) {
        const x = up[Math.floor(rand() * up.length)]
        x.run!.child.kill('SIGKILL')
        x.run = null
        kills++
      }
    }
  })()

  let bytes = 0
  const wrong: string[] = []
  try {
    await Promise.all(Array.from({ length: 4 }, async (_, w) => {
      for (let i = w; i < files.length; i += 4) {
        const data = await readFile(join(mr, files[i]))
        bytes += data.length
        if (want.get(files[i]) !== `- ${sha256(data)}`) wrong.push(files[i])
      }
    }))
  } finally {
    churning = false
    await churn
  }
  assert.deepEqual(wrong, [], 'no read returns wrong bytes')

  // Nobody holds the reserve now: EIO, within the deadline. Readahead may have
  // brought some reserve files along with the walk: read one the reader lacks
  // (`cache stats` first writes what the daemon holds in memory to its store).
  for (const x of seeders) { x.run?.child.kill('SIGKILL'); x.run = null }
  await s.mustG('r', ['cache', 'stats', '--json'])
  let missing: string | undefined
  for (let i = 0; i < 4 && missing === undefined; i++) {
    const id = (await git(repo, 'rev-parse', `HEAD:reserve/r${i}.txt`)).trim()
    if ((await run('git', ['--git-dir', s.store('r'), 'cat-file', '-e', id])).code !== 0) missing = `r${i}.txt`
  }
  assert.ok(missing !== undefined, 'readahead fetched every reserve file: nothing is left to fail')
  const t0 = Date.now()
  await assert.rejects(readFile(join(mr, 'reserve', missing)), { code: 'EIO' })
  const took = Date.now() - t0
  assert.ok(took < DEADLINE_MS + 5000, `EIO after ${took} ms`)
  await s.mustG('r', ['umount', mr])
  faultLine('churn', { seed, seeders: SEEDERS, injected: kills, kills, restarts, files: files.length, bytes, wrong: wrong.length, eioWithNoHolderMs: took, lost: 0 })
})
