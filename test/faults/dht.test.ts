/**
 * The DHT lies (TUF's freeze and rollback, through the pointer): a forged
 * pointer (bad signature, served by a hostile DHT node), an older validly
 * signed pointer (a replay), and a validly signed pointer at a manifest nobody
 * serves. Pass: after each, a reader that mounts the repo keeps its last
 * accepted state (same seq, same manifest hash) and says why — in `gtfs
 * status` warnings, or for a forged item in its DHT log.
 *
 * The publisher's own daemon puts no pointer here (its pointer key is moved
 * aside), so the test decides what the DHT holds.
 */
import assert from 'node:assert/strict'
import { createHash, createPrivateKey, randomBytes } from 'node:crypto'
import { readFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import DHT from 'bittorrent-dht'
import { SwarmDht } from '../../src/swarm/dht.ts'
import { keypairFromSeed, verify, type Ed25519Keypair } from '../../src/swarm/ed25519.ts'
import { encodePointerValue } from '../../src/swarm/pointer.ts'
import { loadAcceptedState, manifestHash } from '../../src/trust/index.ts'
import { git, must, runBuffer } from '../helpers/run.ts'
import { faultLine, makeRepo, Swarm } from '../helpers/swarm.ts'

let s: Swarm
let hostile: DHT | undefined
let putter: SwarmDht | undefined
before(async () => { s = await Swarm.start('faults-dht', { DEBUG: 'gtfs:swarm:dht' }) })
after(async () => {
  await putter?.stop()
  await new Promise<void>(resolve => { if (hostile === undefined) resolve(); else hostile.destroy(() => { resolve() }) })
  await s.close()
})

test('a forged pointer, a replayed older one, one at a manifest nobody serves: the reader keeps its state and says why', async () => {
  const repo = join(s.path, 'site')
  await makeRepo(repo, 8, 4000, 13)
  const fpr = (await s.mustG('a', ['key', 'generate', '--name', 'Publisher', '--email', 'pub@example.org'])).trim()
  const key = (await s.mustG('a', ['init', repo, '--signer', fpr])).trim()
  const keyFile = join(s.home('a'), 'data', 'repos', key, 'pointer.key')
  const jwk = createPrivateKey(await readFile(keyFile, 'utf8')).export({ format: 'jwk' })
  const kp: Ed25519Keypair = keypairFromSeed(Buffer.from(jwk.d!, 'base64url'))
  await rename(keyFile, `${keyFile}.aside`)
  await s.mustG('a', ['publish', repo, '--expires', '1h'])
  await s.mustG('a', ['seed', '--json'])

  const bootstrap = s.env.GTFS_BOOTSTRAP!
  putter = new SwarmDht({})
  await putter.start({ host: '127.0.0.1', port: 0, bootstrap })
  const publishedHash = async (): Promise<string> => {
    const records = JSON.parse(await readFile(join(s.home('a'), 'data', 'repos', key, 'records.json'), 'utf8')) as { manifest: { bytes: string } }
    const bytes = await runBuffer('git', ['--git-dir', s.store('a'), 'cat-file', 'blob', records.manifest.bytes])
    return manifestHash(bytes)
  }
  const seq1Hash = await publishedHash()
  await putter.putPointer(kp, { manifestHash: seq1Hash, seq: 1 })

  const mr = join(s.path, 'mr')
  const daemonLog = join(s.home('r'), 'state', 'logs', 'daemon.log')
  /**
   * Mounts, then waits (up to 5 s) for what the pointer's look should say: a
   * mount takes what it said by the time the state is verified, and the rest
   * is reported when it comes.
   */
  const mountOnce = async (expect?: (warning: string) => boolean, logged?: RegExp): Promise<{ seq: number, warnings: string[] }> => {
    const before = (await s.status('r')).daemon?.warnings.length ?? 0
    const m = await s.mount('r', key, mr, '--pin')
    let warnings: string[] = []
    for (let i = 0; i < 50; i++) {
      warnings = ((await s.status('r')).daemon?.warnings ?? []).slice(before).map(w => w.message)
      const seen = expect === undefined || warnings.some(expect)
      if (seen && (logged === undefined || logged.test(await readFile(daemonLog, 'utf8')))) break
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    await s.mustG('r', ['umount', mr])
    return { seq: m.seq as number, warnings }
  }
  assert.equal((await mountOnce()).seq, 1)

  // seq 2 is published and served; the DHT still says seq 1
  await must('bash', ['-c', 'echo two >> "$1/README"', '_', repo])
  await git(repo, 'commit', '-qam', 'two')
  await s.mustG('a', ['publish', repo, '--expires', '1h'])
  const stateDir = join(s.home('r'), 'data', 'state')
  const replay = await mountOnce(w => w.includes('older than seq 2'))
  assert.equal(replay.seq, 2)
  const accepted = await loadAcceptedState(stateDir, key)
  assert.equal(accepted?.seq, 2)
  assert.ok(replay.warnings.some(w => w.includes('older than seq 2') && w.includes('replay')), `says why: ${JSON.stringify(replay.warnings)}`)

  // a hostile DHT node serves a forged pointer: seq 99, bad signature
  hostile = new DHT({ bootstrap: [bootstrap], verify })
  await new Promise<void>(resolve => { hostile!.listen(0, '127.0.0.1', () => { resolve() }) })
  await new Promise<void>(resolve => { if (hostile!.ready) resolve(); else hostile!.once('ready', () => { resolve() }) })
  const target = createHash('sha1').update(kp.publicKey).digest('hex')
  ;(hostile as unknown as { _values: { set: (k: string, v: unknown) => void } })._values.set(target, {
    v: encodePointerValue({ manifestHash: randomBytes(32).toString('hex'), seq: 99 }), k: Buffer.from(kp.publicKey), sig: randomBytes(64), seq: 99, id: hostile.nodeId
  })
  const forged = await mountOnce(undefined, /ignored \d+ item\(s\) with a bad signature/)
  assert.equal(forged.seq, 2)
  const log = await readFile(daemonLog, 'utf8')
  assert.match(log, /ignored \d+ item\(s\) with a bad signature/, 'the reader\'s DHT log says the forged item was ignored')

  // a validly signed pointer at a manifest nobody serves
  await putter.putPointer(kp, { manifestHash: randomBytes(32).toString('hex'), seq: 7 })
  const unserved = await mountOnce(w => w.includes('seq 7'))
  assert.equal(unserved.seq, 2)
  assert.ok(unserved.warnings.some(w => w.includes('seq 7') && w.includes('newer than seq 2')), `says why: ${JSON.stringify(unserved.warnings)}`)

  const last = await loadAcceptedState(stateDir, key)
  assert.deepEqual([last?.seq, last?.manifestHash], [accepted?.seq, accepted?.manifestHash], 'the last accepted state is kept')
  faultLine('dht', { injected: 3, forged: 1, replayed: 1, unserved: 1, keptSeq: last?.seq ?? -1, rollbacks: 0, lost: 0 })
})
