// Loads a module of gtfs: from dist/ (compiled by `npm run build`, which
// scripts/setup.sh runs) when dist/.stamp is newer than every source file,
// else the TypeScript source through tsx's loader, so an edit never runs stale
// code. Only .ts files count: a README edit under src/ changes no code.
// Compiled, a process starts faster and uses about 35 MiB less memory (tsx's
// transpiler is not loaded). GTFS_NO_DIST=1 always takes the sources. The
// daemon and the plain `gtfs mount` run from bundles of dist/ with a V8 code
// cache (runBundle).
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

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
/** tsx's loader, registered once per process */
let registered

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

/**
 * `path` relative to src/, without extension: 'cli/main'. `bundle`: the name
 * of its bundle in dist/bundle/ (scripts/bundle.mjs), taken when dist/ is fresh.
 */
export async function load (path, bundle) {
  if (distIsFresh()) {
    if (bundle !== undefined && existsSync(`${root}dist/bundle/${bundle}.cjs`)) return runBundle(`${root}dist/bundle/${bundle}.cjs`).exports
    return await import(`${root}dist/${path}.js`)
  }
  registered ??= import('tsx/esm/api').then(({ register }) => { register() })
  await registered
  return await import(`${root}src/${path}.ts`)
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
export function runBundle (file) {
  // required here, not imported above: every CLI command loads this module
  const require = createRequire(import.meta.url)
  const Module = require('node:module')
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
  script.runInThisContext().call(module.exports, module.exports, createRequire(file), module, file, dirname(file))
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
 * eight of them took 23-30 ms instead of 9-10, and bin/gtfs-daemon.js took
 * 96 ms from spawn to listening instead of 85 (medians of 12, interleaved). The heap
 * took its sizes when the process started and keeps them (measured: new space
 * stays at most 4 MiB after the semi-space flag is set back); the growth is
 * read at each GC, so the daemon sets it again once past its start
 * (src/daemon/gc-pacing.ts). 0 is V8's default for both.
 */
export function restoreV8Defaults () {
  const { setFlagsFromString } = createRequire(import.meta.url)('node:v8')
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
export async function writeBundleCache (file, warm) {
  const { exports, script } = runBundle(file)
  if (warm !== undefined) await exports[warm]()
  const tmp = `${file}.cache.${process.pid}`
  writeFileSync(tmp, script.createCachedData())
  renameSync(tmp, `${file}.cache`)
}
