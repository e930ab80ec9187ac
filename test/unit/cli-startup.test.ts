/**
 * The CLI loads a command's implementation only when that command runs, so
 * `gtfs --version`, `--help` and the `gtfs daemon` that `gtfs mount` spawns
 * start fast. A child node (the sources through tsx, as the tests run them; no
 * build needed) records every module it loads through a module hook, and the
 * heavy ones must not be among them. A control child loads them on purpose:
 * each pattern below must catch something, so none can pass by a typo.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { after, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { ROOT, run, tempDir } from '../helpers/run.ts'

const HEAVY = [
  /\/src\/daemon\/daemon\.ts$/,
  /\/src\/publish\/session\.ts$/,
  /\/src\/trust\/index\.ts$/,
  /\/src\/store\/object-store\.ts$/,
  /\/src\/swarm\//,
  /\/node_modules\/openpgp\//,
  /\/node_modules\/isomorphic-git\//,
  /\/node_modules\/fuse-native\//
]

const YARGS = /\/node_modules\/yargs(-parser)?\//
const src = (p: string): string => pathToFileURL(join(ROOT, 'src', p)).href
const tmp = await tempDir('cli-startup')
after(async () => { await tmp.remove() })

/** Runs `body` (an ES module) in a node that notes every module it loads in a file. */
async function recorded (name: string, body: string): Promise<{ loads: string[], stdout: string }> {
  const log = join(tmp.path, `${name}.log`)
  // Node runs load hooks on their own thread, before the module is evaluated: the log is complete when an import resolves.
  const hook = `import { appendFileSync } from 'node:fs'
export async function load (url, context, next) {
  appendFileSync(${JSON.stringify(log)}, url + '\\n')
  return await next(url, context)
}`
  // require() (fuse-native is required, being CommonJS) does not reach those
  // hooks in node 20: the CommonJS loader notes what it loads as well.
  const code = `import { appendFileSync } from 'node:fs'
import Module, { register } from 'node:module'
import { pathToFileURL } from 'node:url'
appendFileSync(${JSON.stringify(log)}, '')
register(${JSON.stringify('data:text/javascript,' + encodeURIComponent(hook))})
const cjsLoad = Module._load
Module._load = function (request, parent, isMain) {
  const out = cjsLoad.call(this, request, parent, isMain)
  try { appendFileSync(${JSON.stringify(log)}, pathToFileURL(Module._resolveFilename(request, parent, isMain)).href + '\\n') } catch {}
  return out
}
${body}`
  const r = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: ROOT, env: { ...process.env, GTFS_HOME: tmp.path }, timeoutMs: 30_000
  })
  assert.equal(r.code, 0, r.stderr)
  return { loads: (await readFile(log, 'utf8')).split('\n').filter(l => l !== ''), stdout: r.stdout }
}

const heavyIn = (loads: string[]): string[] => loads.filter(u => HEAVY.some(re => re.test(u)))

test('importing the CLI and gtfs --version load none of the daemon, publishing, OpenPGP, store, swarm or FUSE code', async () => {
  const version = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
  const r = await recorded('version', `const { main } = await import(${JSON.stringify(src('cli/main.ts'))})
process.exitCode = await main(['--version'])`)
  assert.equal(r.stdout.trim(), version)
  assert.ok(r.loads.includes(src('cli/commands/mount.ts')), 'the hook saw the command modules')
  assert.ok(r.loads.some(u => YARGS.test(u)), 'the hook saw yargs')
  assert.deepEqual(heavyIn(r.loads), [])
})

test('the daemon entry that gtfs mount spawns (bin/gtfs-daemon.cjs) loads neither yargs nor another command', async () => {
  const r = await recorded('daemon-entry', `await import(${JSON.stringify(src('cli/daemon-main.ts'))})`)
  assert.ok(r.loads.includes(src('cli/commands/daemon.ts')), 'the hook saw the entry load runDaemon')
  assert.deepEqual(r.loads.filter(u => YARGS.test(u) || (u.includes('/src/cli/commands/') && !u.endsWith('/daemon.ts'))), [])
})

test('gtfs mount <key> <dir> in its plain form (cli/mount-plain.ts) loads neither yargs nor another command', async () => {
  const r = await recorded('mount-plain', `await import(${JSON.stringify(src('cli/mount-plain.ts'))})
await import(${JSON.stringify(src('cli/commands/mount.ts'))})`)
  assert.ok(r.loads.includes(src('cli/commands/mount.ts')), 'the hook saw the mount command')
  assert.deepEqual(r.loads.filter(u => YARGS.test(u) || (u.includes('/src/cli/commands/') && !u.endsWith('/mount.ts'))), [])
  assert.deepEqual(heavyIn(r.loads), [])
})

test('gtfs mount --help and gtfs daemon --help load no heavy module either', async () => {
  await Promise.all(['mount', 'daemon'].map(async cmd => {
    const r = await recorded(`${cmd}-help`, `const { main } = await import(${JSON.stringify(src('cli/main.ts'))})
process.exitCode = await main([${JSON.stringify(cmd)}, '--help'])`)
    assert.match(r.stdout, new RegExp(`gtfs ${cmd}`))
    assert.deepEqual(heavyIn(r.loads), [], cmd)
  }))
})

test('control: each heavy pattern catches a module when it is loaded', async () => {
  // openpgp and fuse-native load on first use (the daemon preloads them once it listens)
  const r = await recorded('control', `await import(${JSON.stringify(src('daemon/daemon.ts'))})
await (await import(${JSON.stringify(src('trust/openpgp.ts'))})).pgp()
await (await import(${JSON.stringify(src('fs/mount.ts'))})).gtfsFuse()
await import('isomorphic-git')`)
  for (const re of HEAVY) assert.ok(r.loads.some(u => re.test(u)), `${String(re)} matched nothing`)
})

test('bin/gtfs run by its #! line starts node without NODE_EXTRA_CA_CERTS, and node bin/gtfs with it (the control)', async () => {
  // node warns on stderr when the bundle the variable names cannot be read: the warning shows whether it was read.
  const env = { ...process.env, GTFS_HOME: tmp.path, NODE_EXTRA_CA_CERTS: join(tmp.path, 'no-such-bundle.pem'), PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` }
  const bin = join(ROOT, 'bin', 'gtfs')
  const direct = await run(bin, ['--version'], { env, timeoutMs: 30_000 })
  assert.equal(direct.code, 0, direct.stderr)
  assert.doesNotMatch(direct.stderr, /extra certs/)
  const control = await run(process.execPath, [bin, '--version'], { env, timeoutMs: 30_000 })
  assert.equal(control.code, 0, control.stderr)
  assert.match(control.stderr, /extra certs/)
})

test('the bundles bin/ runs when dist/ is fresh are strict, and compile from their code cache under the flags they run with, set back as bin/gtfs-daemon.cjs sets them', async () => {
  // scripts/bundle.mjs writes them (npm run build; npm test builds first). A
  // cache V8 refuses (made under other flags, or for another build) costs the
  // daemon's start ~35 ms and says nothing: this is where it would show.
  const { DAEMON_NODE_FLAGS } = await import('../../src/cli/daemon-client.ts')
  for (const [name, flags, exported] of [['daemon-main', DAEMON_NODE_FLAGS, 'daemonMain'], ['mount-plain', [], 'mountPlain']] as const) {
    const file = join(ROOT, 'dist', 'bundle', `${name}.cjs`)
    const text = await readFile(file, 'utf8').catch(() => '')
    assert.ok(text !== '', `${file} is missing: npm run build makes it`)
    // a directive counts only before any statement: anything ahead of it makes the whole bundle sloppy
    assert.ok(text.startsWith("'use strict';"), `${name}.cjs starts with the strict directive`)
    const probe = (restore: boolean): string => `const { runBundle, restoreV8Defaults } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'bin', 'load.mjs')).href)})
${restore ? 'restoreV8Defaults()' : ''}
const { exports, script } = runBundle(${JSON.stringify(file)})
console.log(JSON.stringify({ rejected: script.cachedDataRejected, exported: typeof exports[${JSON.stringify(exported)}] }))`
    const r = await run(process.execPath, [...flags, '--input-type=module', '-e', probe(true)], { cwd: ROOT, env: { ...process.env, GTFS_HOME: tmp.path }, timeoutMs: 30_000 })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), { rejected: false, exported: 'function' }, name)
    // the control: under the heap flags left as they were V8 refuses the same cache, so the probe can see a refusal
    if (flags.length > 0) {
      const other = await run(process.execPath, [...flags, '--input-type=module', '-e', probe(false)], { cwd: ROOT, env: { ...process.env, GTFS_HOME: tmp.path }, timeoutMs: 30_000 })
      assert.equal(JSON.parse(other.stdout).rejected, true, `${name} with its heap flags left as they were`)
    }
  }
})

test('the daemon, its heap flags set back (restoreV8Defaults), takes code caches made under V8\'s defaults, as node\'s own of its built-in modules, and keeps the heap its flags sized', async () => {
  const { DAEMON_NODE_FLAGS } = await import('../../src/cli/daemon-client.ts')
  const file = join(tmp.path, 'cached.js')
  const source = 'function f (n) { let s = 0; for (let i = 0; i < n; i++) s += i; return s }; f(10)'
  // a cache made by a node with no flags at all, as node's build makes its own
  const made = await run(process.execPath, ['-e', `const vm = require('node:vm'); const s = new vm.Script(${JSON.stringify(source)}); s.runInThisContext(); require('node:fs').writeFileSync(${JSON.stringify(`${file}.cache`)}, s.createCachedData())`], { timeoutMs: 30_000 })
  assert.equal(made.code, 0, made.stderr)
  const probe = (restore: boolean): string => `const { restoreV8Defaults } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'bin', 'load.mjs')).href)})
${restore ? 'restoreV8Defaults()' : ''}
const vm = await import('node:vm'); const v8 = await import('node:v8'); const { readFileSync } = await import('node:fs')
const s = new vm.Script(${JSON.stringify(source)}, { cachedData: readFileSync(${JSON.stringify(`${file}.cache`)}) })
const keep = []; let newSpace = 0
for (let i = 0; i < 1e6; i++) { const o = { i, a: [i] }; if (i % 10 === 0) keep.push(o); if (i % 50000 === 0) newSpace = Math.max(newSpace, v8.getHeapSpaceStatistics().find(x => x.space_name === 'new_space').space_size) }
console.log(JSON.stringify({ rejected: s.cachedDataRejected, newSpaceMiB: newSpace / 2 ** 20 }))`
  const restored = await run(process.execPath, [...DAEMON_NODE_FLAGS, '--input-type=module', '-e', probe(true)], { timeoutMs: 30_000 })
  assert.equal(restored.code, 0, restored.stderr)
  const r = JSON.parse(restored.stdout) as { rejected: boolean, newSpaceMiB: number }
  assert.equal(r.rejected, false, 'set back, the flags are V8\'s defaults again')
  // --max-semi-space-size=2: two semi-spaces of at most 2 MiB (node's default lets them grow to 16 each)
  assert.ok(r.newSpaceMiB <= 4, `the heap keeps the size its flags gave it: new space ${r.newSpaceMiB} MiB`)
  const left = await run(process.execPath, [...DAEMON_NODE_FLAGS, '--input-type=module', '-e', probe(false)], { timeoutMs: 30_000 })
  assert.equal(JSON.parse(left.stdout).rejected, true, 'the control: under the flags as given V8 refuses the cache')
})
