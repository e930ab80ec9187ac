/**
 * The shipped systemd units parse as unit files (sections, Key=Value lines),
 * say what gtfs needs, and the example mount's name matches its Where= (which
 * systemd requires). `systemd-analyze verify` is not assumed to exist.
 */
import { DAEMON_ENV, DAEMON_NODE_FLAGS, daemonEnv } from '../../src/cli/daemon-client.ts'
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { translateMountCall } from '../../src/cli/mount-helper.ts'
import { ROOT } from '../helpers/run.ts'

type Unit = Map<string, Map<string, string[]>>

function parseUnit (text: string): Unit {
  const unit: Unit = new Map()
  let section: Map<string, string[]> | undefined
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const head = /^\[([A-Za-z]+)\]$/.exec(line)
    if (head !== null) {
      assert.ok(!unit.has(head[1]), `section ${head[1]} twice`)
      section = new Map()
      unit.set(head[1], section)
      continue
    }
    const kv = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(line)
    assert.ok(kv !== null && section !== undefined, `line ${i + 1} is not Key=Value in a section: ${raw}`)
    section.set(kv[1], [...(section.get(kv[1]) ?? []), kv[2]])
  }
  return unit
}

const one = (u: Unit, s: string, k: string): string | undefined => u.get(s)?.get(k)?.at(-1)
const load = async (p: string): Promise<Unit> => parseUnit(await readFile(join(ROOT, 'systemd', p), 'utf8'))

test('gtfs-daemon.service runs `gtfs daemon` with its state in one place', async () => {
  const u = await load('gtfs-daemon.service')
  assert.deepEqual([...u.keys()], ['Unit', 'Service', 'Install'])
  assert.match(one(u, 'Service', 'ExecStart') ?? '', /\/gtfs daemon$/)
  assert.equal(one(u, 'Service', 'Environment'), 'GTFS_HOME=/var/lib/gtfs')
  // the memory settings a daemon started by `gtfs mount` runs with (daemon-client.ts)
  const env = (u.get('Service')?.get('Environment') ?? []).join(' ')
  for (const [k, v] of Object.entries(DAEMON_ENV)) assert.ok(env.split(' ').includes(`${k}=${v}`), `Environment has ${k}=${v}`)
  assert.ok((one(u, 'Service', 'ExecStart') ?? '').includes(` ${DAEMON_NODE_FLAGS.join(' ')} `), 'ExecStart has the node flags')
  assert.equal(one(u, 'Service', 'KillSignal'), 'SIGTERM')
  assert.match(one(u, 'Unit', 'Documentation') ?? '', /man:gtfs-daemon\(1\)/)
})

test('a daemon started by gtfs mount gets the memory settings as defaults, and no CA bundle to load', () => {
  const env = daemonEnv({ PATH: '/bin', GTFS_HOME: '/h', MALLOC_ARENA_MAX: '4', NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt' })
  assert.deepEqual(env, { ...DAEMON_ENV, PATH: '/bin', GTFS_HOME: '/h', MALLOC_ARENA_MAX: '4' })
})

test('the example .mount and .automount: names match Where=, options reach the mount helper', async () => {
  const m = await load('examples/srv-gtfs-distro.mount')
  const a = await load('examples/srv-gtfs-distro.automount')
  const where = one(m, 'Mount', 'Where')!
  // systemd-escape -p: strip slashes at the ends, then '/' becomes '-'.
  assert.equal(where.replace(/^\/+|\/+$/g, '').replace(/\//g, '-'), 'srv-gtfs-distro')
  assert.equal(one(a, 'Automount', 'Where'), where)
  assert.equal(one(m, 'Mount', 'Type'), 'fuse.gtfs')
  assert.match(one(m, 'Unit', 'Requires') ?? '', /gtfs-daemon\.service/)
  const call = translateMountCall([one(m, 'Mount', 'What')!, where, '-o', one(m, 'Mount', 'Options')!])
  assert.deepEqual(call.args, ['mount', one(m, 'Mount', 'What'), where, '--ref', 'refs/heads/main', '--allow-other'])
  assert.equal(call.home, one(await load('gtfs-daemon.service'), 'Service', 'Environment')!.split('=')[1])
})

test('the mount helper translates mount(8) options and refuses unknown options', () => {
  const t = translateMountCall(['k', '/d', '-n', '-o', 'ro,suid,dev,pin,allow_expired,bootstrap=127.0.0.1:6881,port=0,nofail,x-systemd.automount,comment=x'])
  assert.deepEqual(t.args, ['mount', 'k', '/d', '--suid', '--dev', '--pin', '--allow-expired', '--bootstrap', '127.0.0.1:6881', '--port', '0'])
  assert.equal(t.fake, false)
  assert.equal(translateMountCall(['k', '/d', '-fv']).fake, true)
  // mount(8) adds rw unless told ro: ignored, the mount is read-only anyway.
  assert.deepEqual(translateMountCall(['k', '/d', '-o', 'rw']).args, ['mount', 'k', '/d'])
  assert.throws(() => translateMountCall(['k', '/d', '-o', 'bogus']), { code: 'EUSAGE' })
  assert.deepEqual(translateMountCall(['k', '/d', '-s', '-o', 'bogus']).args, ['mount', 'k', '/d'])
  assert.throws(() => translateMountCall(['k', '-o', 'ro']), { code: 'EUSAGE' })
  assert.throws(() => translateMountCall(['k', '/d', '-o', 'ref=']), { code: 'EUSAGE' })
})
