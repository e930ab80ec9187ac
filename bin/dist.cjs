'use strict'
// What bin/ runs of dist/, in CommonJS so that the daemon's entry
// (bin/gtfs-daemon.cjs) needs no ES module loader: whether dist/ is fresh,
// running a bundle of dist/bundle/ with its V8 code cache, writing that cache,
// and setting the daemon's heap flags back to V8's defaults. bin/load.mjs, the
// loader of every other entry, takes them from here.
const { readdirSync, readFileSync, renameSync, statSync, writeFileSync } = require('node:fs')
const Module = require('node:module')
const { dirname, join } = require('node:path')

const root = join(__dirname, '..') + '/'

function newest (dir) {
  let t = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`
    if (e.isDirectory()) t = Math.max(t, newest(p))
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs)
  }
  return t
}

let fresh

/**
 * Whether dist/ is fresh. A build older than a source file says so once on
 * stderr (a daemon's goes to its log): after a `git pull` without a build,
 * the sources ran silently, and a daemon took 400-450 ms from spawn to
 * listening instead of ~90.
 */
function distIsFresh () {
  if (process.env.GTFS_NO_DIST === '1') return false
  if (fresh !== undefined) return fresh
  let built, sources
  try {
    built = statSync(`${root}dist/.stamp`).mtimeMs
    sources = newest(`${root}src`)
  } catch {
    return (fresh = false) // never built: the sources, as a checkout runs before `npm run build`
  }
  fresh = built >= sources
  if (!fresh) process.stderr.write('gtfs: dist/ is older than src/: running the TypeScript sources, which start slower and use more memory (npm run build)\n')
  return fresh
}

/** The file of bundle `name` (scripts/bundle.mjs) when dist/ is fresh and has it, else null. */
function freshBundle (name) {
  if (!distIsFresh()) return null
  const file = `${root}dist/bundle/${name}.cjs`
  try {
    statSync(file)
  } catch {
    return null
  }
  return file
}

/**
 * Runs a CommonJS bundle of dist/bundle/ (scripts/bundle.mjs) as node would
 * require it, but compiled with the V8 code cache written beside it
 * (`<file>.cache`), so that the daemon `gtfs mount` starts does not parse its
 * 1.6 MB again: spawn to listening was ~150 ms, ~90 of them importing the
 * bundle as an ES module; compiled from the cache the bundle takes ~15 ms
 * (~50 without it). A cache that does not fit (another node, other flags, a
 * rebuilt bundle: V8 checks) is ignored and the source compiled as usual.
 * Returns the module's exports and the compiled script.
 */
function runBundle (file) {
  const vm = require('node:vm')
  const source = readFileSync(file, 'utf8')
  let cachedData
  try {
    cachedData = readFileSync(`${file}.cache`)
  } catch {}
  // No import() may be left in a bundle (scripts/bundle.mjs checks): a script
  // compiled here has no loader for one.
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData })
  const module = { exports: {} }
  script.runInThisContext().call(module.exports, module.exports, Module.createRequire(file), module, file, dirname(file))
  return { exports: module.exports, script }
}

/**
 * Sets the heap flags of the daemon's node (src/cli/daemon-client.ts
 * DAEMON_NODE_FLAGS) back to V8's defaults; the daemon's entry does it first
 * thing, and writeBundleCache's process before it writes the cache. V8
 * refuses a code cache made under other flags, and node's own cache of its
 * built-in modules (stream, crypto, net, zlib, the web streams and crypto
 * openpgp takes) was made under the defaults: under `--max-semi-space-size=2
 * --heap-growing-percent=45` each of them compiled from source. Requiring
 * eight of them took 23-30 ms instead of 9-10, and the daemon's entry (then
 * ESM) took 96 ms from spawn to listening instead of 85 (medians of 12, interleaved). The heap
 * took its sizes when the process started and keeps them (measured: new space
 * stays at most 4 MiB after the semi-space flag is set back); the growth is
 * read at each GC, so the daemon sets it again once past its start
 * (src/daemon/gc-pacing.ts). 0 is V8's default for both.
 */
function restoreV8Defaults () {
  const { setFlagsFromString } = require('node:v8')
  for (const a of process.execArgv) {
    const m = /^--(max[-_]semi[-_]space[-_]size|heap[-_]growing[-_]percent)=/.exec(a)
    if (m !== null) setFlagsFromString(`--${m[1]}=0`)
  }
}

/**
 * Writes `<file>.cache` for runBundle: the bundle compiled and its top level
 * run, then its export `warm` (if named) awaited, in a process started with
 * the node flags the bundle will run under (V8 refuses a cache made under
 * other flags). What ran is compiled in the cache.
 */
/**
 * An entry's module: bundle `bundle` when dist/ is fresh and has it, else
 * `path` (relative to src/, without extension) as bin/load.mjs loads it.
 */
async function loadEntry (path, bundle) {
  const file = freshBundle(bundle)
  if (file !== null) return runBundle(file).exports
  return await (await import('./load.mjs')).load(path)
}

async function writeBundleCache (file, warm) {
  const { exports, script } = runBundle(file)
  if (warm !== undefined) await exports[warm]()
  const tmp = `${file}.cache.${process.pid}`
  writeFileSync(tmp, script.createCachedData())
  renameSync(tmp, `${file}.cache`)
}

exports.root = root
exports.distIsFresh = distIsFresh
exports.loadEntry = loadEntry
exports.runBundle = runBundle
exports.restoreV8Defaults = restoreV8Defaults
exports.writeBundleCache = writeBundleCache
