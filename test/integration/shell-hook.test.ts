/**
 * The shell hook end to end: bash (and zsh) with `eval "$(gtfs shell-hook bash)"` runs a
 * command it does not have from a trusted repo of the swarm, through the
 * automount namespace, says which repo and signer it comes from, and passes
 * the exit status through; a command no trusted repo ships is "not found" (127).
 */
import assert from 'node:assert/strict'
import { mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { startBinSwarm, type BinSwarm } from '../helpers/bin-swarm.ts'
import { errorCode, forceUnmount, gtfsEnv } from '../helpers/mounts.ts'
import { GTFS, run } from '../helpers/run.ts'
import { shellHook } from '../../src/cli/commands/shell-hook.ts'

let s: BinSwarm
let auto: string
// Names no host has: what runs can only come from the repo.
const HELLO = 'gtfs-test-hello'
const REL = 'ipcalc'
const ABS = 'crc32'

/**
 * A PATH without npm's node_modules/.bin (npm run puts it first, and it holds a
 * `crc32` of the crc-32 package): the commands under test must be ones this
 * machine lacks, or the hook never runs.
 */
const HOST_PATH = (process.env.PATH ?? '/usr/bin:/bin').split(':').filter(d => !d.includes('node_modules')).join(':')

/** bash (or zsh) with the hook, as the reader. */
async function bash (script: string, shell: 'bash' | 'zsh' = 'bash'): Promise<{ code: number, stdout: string, stderr: string }> {
  return await run(shell, ['-c', `eval "$(${JSON.stringify(process.execPath)} ${JSON.stringify(GTFS)} shell-hook ${shell})"\n${script}`], { env: { ...gtfsEnv(s.homes.reader, s.env), PATH: HOST_PATH } })
}

before(async () => {
  s = await startBinSwarm('shell-hook', { hello: HELLO, relLink: REL, absLink: ABS })
  auto = join(s.tmp, 'gtfs')
  await mkdir(auto)
})

after(async () => {
  if (auto !== undefined) await forceUnmount(s.homes.reader, auto)
  await s?.stop()
})

test('shell-hook prints a handler for bash and zsh that names gtfs by absolute path', async () => {
  const b = shellHook('bash', '/usr/bin/node', "/opt/it's/gtfs")
  assert.match(b, /^command_not_found_handle\(\) \{$/m)
  assert.ok(b.includes(`'/opt/it'\\''s/gtfs' find-command --name="$1"`), b)
  assert.match(shellHook('zsh'), /^command_not_found_handler\(\) \{$/m)
  const syntax = await run('bash', ['-n', '-c', b])
  assert.equal(syntax.code, 0, syntax.stderr)
  assert.equal(errorCode(await s.reader(['shell-hook', '--json', 'fish'])), 'EUSAGE')
})

test('without an automount, or before the repo is trusted here, the command is not found', async () => {
  const none = await bash(`${HELLO} x`)
  assert.equal(none.code, 127)
  assert.match(none.stderr, new RegExp(`bash: ${HELLO}: command not found`))
  assert.match(none.stderr, /gtfs automount/, 'says how to get commands from the swarm')

  const r = await s.reader(['automount', auto])
  assert.equal(r.code, 0, r.stderr)
  // The reader has never accepted a manifest of the repo: it is not searched.
  const untrusted = await bash(`${HELLO} x`)
  assert.equal(untrusted.code, 127, untrusted.stderr)
  assert.equal(errorCode(await s.reader(['find-command', '--json', HELLO])), 'ENOCOMMAND')
})

test('once the repo is trusted, bash runs the command from the swarm, says from where, and passes its status', async () => {
  assert.equal((await s.reader(['alias', 'add', 'tools', s.key])).code, 0)
  // First access through the namespace verifies and accepts the repo on this machine.
  assert.ok((await readdir(join(auto, s.key))).includes('usr'))
  const blob = await s.blob(`usr/bin/${HELLO}`)
  assert.equal(await s.readerHas(blob), false, 'nothing fetched before the command runs')

  const r = await bash(`${HELLO} one "two words"; echo "status $?"`)
  assert.equal(r.stdout, 'hello from the swarm: one two words\nstatus 7\n', r.stderr)
  assert.ok(r.stderr.includes(`${HELLO} from tools (${s.key})`), r.stderr)
  assert.ok(r.stderr.includes(s.fingerprint), `names the signer: ${r.stderr}`)
  assert.equal(await s.readerHas(blob), true)

  // busybox through a relative and an absolute link: both run the repo's busybox under the name typed.
  const rel = await bash(`${REL} -n 10.1.2.3/8`)
  assert.equal(rel.code, 0, rel.stderr)
  assert.equal(rel.stdout, 'NETWORK=10.0.0.0\n')
  const found = JSON.parse((await s.reader(['find-command', '--json', ABS])).stdout) as { path: string, inRepo: string, repo: string }
  assert.equal(found.inRepo, '/usr/bin/busybox', 'the absolute link is followed inside the repo')
  assert.equal(found.path, join(auto, 'tools', 'usr', 'bin', 'busybox'))
  const abs = await bash(`printf abc | ${ABS}`)
  assert.equal(abs.code, 0, abs.stderr)
  assert.equal(abs.stdout.trim(), (await run('busybox', ['sh', '-c', 'printf abc | busybox crc32'])).stdout.trim())

  // zsh: the same through command_not_found_handler (argv[0] through ARGV0).
  const z = await bash(`${HELLO} z; echo "status $?"; ${REL} -n 10.1.2.3/8`, 'zsh')
  assert.equal(z.stdout, 'hello from the swarm: z\nstatus 7\nNETWORK=10.0.0.0\n', z.stderr)
  const zmissing = await bash('no-such-command-anywhere', 'zsh')
  assert.equal(zmissing.code, 127)
  assert.match(zmissing.stderr, /zsh: command not found: no-such-command-anywhere/)

  // Not in any trusted repo: bash's usual answer.
  const missing = await bash('no-such-command-anywhere')
  assert.equal(missing.code, 127)
  assert.match(missing.stderr, /bash: no-such-command-anywhere: command not found/)
})
