/**
 * Crashes: SIGKILL at random points (seeded) of publishing and of fetching,
 * twenty times (TUF's rollback attack, through a crash instead of a network).
 *
 * - publish: while `gtfs publish` runs, the publisher's daemon is killed (and,
 *   every other time, the publishing process too). After: its store passes git
 *   fsck, its accepted manifest seq is not lower and reads cleanly, and a new
 *   publish and `gtfs seed` work.
 * - fetch: while a reader's mount follows to the new manifest and reads every
 *   file (fetching the new ones), its daemon is killed. After: `gtfs umount`
 *   clears the stale mount, the store passes git fsck, the accepted seq is not
 *   lower, and a new mount serves every file of the newest manifest byte for byte.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { after, before, test } from 'node:test'
import { lstat, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gtfsEnv, isMountpoint } from '../helpers/mounts.ts'
import { rng } from '../helpers/rng.ts'
import { git, GTFS } from '../helpers/run.ts'
import { archive, contents, daemonPid, faultLine, faultSeed, fsck, makeRepo, Swarm } from '../helpers/swarm.ts'

/** rounds of a publish crash and a fetch crash each (GTFS_FAULTS_CRASH_ROUNDS, default 10: twenty kills) */
const ROUNDS = Number(process.env.GTFS_FAULTS_CRASH_ROUNDS ?? 10)

let s: Swarm
before(async () => { s = await Swarm.start('faults-crash') })
after(async () => { await s.close() })

/** Runs `gtfs args` as `who` without waiting; resolves with its exit code. */
function startG (who: string, args: string[]): { pid: number, done: Promise<number | null> } {
  const child = spawn(process.execPath, [GTFS, ...args], { env: gtfsEnv(s.home(who), s.env), stdio: 'ignore' })
  const done = new Promise<number | null>(resolve => { child.once('exit', code => { resolve(code) }) })
  return { pid: child.pid!, done }
}

/** SIGKILLs the daemon of `who` once it runs (waiting at most `ms`); true when one was killed. */
async function killDaemon (who: string, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const pid = await daemonPid(s.home(who))
    if (pid !== null) {
      process.kill(pid, 'SIGKILL')
      while (await daemonPid(s.home(who)) === pid) await new Promise(resolve => setTimeout(resolve, 20))
      return true
    }
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  return false
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

test('SIGKILL at random points of publishing and fetching, twenty times: nothing torn, nothing rolled back', async () => {
  const seed = faultSeed('crashes', 0xc4a5)
  const rand = rng(seed)
  const repo = join(s.path, 'site')
  await makeRepo(repo, 32, 16_000, 5)
  const key = await s.publish('a', repo)
  const mr = join(s.path, 'mr')
  let files = 0
  let bytes = 0
  /** A fresh mount of the newest manifest serves every file of its commit, byte for byte. */
  const mountAndCheck = async (acceptedBefore: number, round: number): Promise<void> => {
    const m = await s.mount('r', key, mr)
    assert.ok((m.seq as number) >= acceptedBefore, `mounted seq ${String(m.seq)} < accepted ${acceptedBefore}`)
    const want = await archive(repo, m.commit as string, join(s.path, `archive-${round}`))
    const got = await contents(mr)
    const wrong = [...new Set([...want.keys(), ...got.keys()])].filter(p => want.get(p) !== got.get(p))
    assert.deepEqual(wrong, [], `round ${round}: the mount of seq ${String(m.seq)} (${String(m.commit)}) serves every file`)
    files += got.size
    for (const [p] of got) bytes += (await lstat(join(mr, p))).size
  }
  await mountAndCheck(-1, -1)
  let kills = 0
  let publishKills = 0

  for (let round = 0; round < ROUNDS; round++) {
    // ── publish, killed ─────────────────────────────────────────────
    for (let i = 0; i < 4; i++) await writeFile(join(repo, `d0${i}`, `new-${round}.txt`), `round ${round} file ${i} ${rand()}\n`.repeat(2000))
    await git(repo, 'add', '-A')
    await git(repo, 'commit', '-qm', `round ${round}`)
    const seqA = await s.publishedSeq('a', key)
    const pub = startG('a', ['publish', repo, '--expires', '1h'])
    await sleep(Math.floor(rand() * 2500))
    if (await killDaemon('a', 100)) kills++
    if (round % 2 === 1) {
      try { process.kill(pub.pid, 'SIGKILL'); publishKills++ } catch {}
    }
    await pub.done
    await fsck(s.store('a'))
    const afterA = await s.publishedSeq('a', key)
    assert.ok(afterA >= seqA, `publisher's published seq went from ${seqA} to ${afterA}`)
    // the publisher goes on: a publish completes and is seeded
    await s.mustG('a', ['publish', repo, '--expires', '1h'])
    await s.mustG('a', ['seed', '--json'])
    assert.ok(await s.publishedSeq('a', key) > afterA, 'a new publish after the crash is accepted')

    // ── fetch, killed: the mount follows to the new manifest and fetches what it reads ──
    const seqR = await s.acceptedSeq('r', key)
    let reading = true
    const reader = (async () => {
      while (reading) for (const [p] of await contents(mr).catch(() => new Map())) await readFile(join(mr, p)).catch(() => {})
    })()
    await sleep(Math.floor(rand() * 3000))
    if (await killDaemon('r')) kills++
    reading = false
    await reader
    const um = await s.g('r', ['umount', mr])
    assert.equal(await isMountpoint(mr), false, `gtfs umount left ${mr} mounted: ${um.stderr}`)
    await fsck(s.store('r'))
    const afterR = await s.acceptedSeq('r', key)
    assert.ok(afterR >= seqR, `reader's accepted seq went from ${seqR} to ${afterR}`)
    await mountAndCheck(afterR, round)
  }
  await s.mustG('r', ['umount', mr])
  await fsck(s.store('r'))
  faultLine('crashes', { seed, rounds: ROUNDS, injected: kills + publishKills, daemonKills: kills, publishKills, filesVerified: files, bytes, rollbacks: 0, lost: 0 })
})
