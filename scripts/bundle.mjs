// Bundles the daemon's entry (dist/cli/daemon-main.js, compiled by tsc) into
// one CommonJS file, dist/bundle/daemon-main.cjs, with V8's code cache for it
// beside it (daemon-main.cjs.cache), which bin/gtfs-daemon.cjs runs when dist/
// is fresh (bin/dist.cjs runBundle); and the same for what the plain form of
// `gtfs mount <key> <dir>` runs before it asks the daemon (mount-plain.cjs,
// for bin/gtfs: it is on the way to the daemon's start). Every `gtfs mount`
// that starts a daemon waits for this, measured from spawn to listening:
// - gtfs's own modules one by one (node's ES module loader costs about half a
//   millisecond per module, and the daemon loads about a hundred): 228-236 ms;
//   one bundle: 188-197 ms (in pairs);
// - the packages it uses bundled too (bittorrent-dht and bittorrent-protocol
//   are some forty modules with their dependencies): median of 11, 370 ->
//   297 ms (on a slower day);
// - CommonJS compiled with the code cache instead of an ES module: the bundle
//   took ~90 ms of the ~150 to import, and now ~15 ms to compile and run its
//   top level (~50 without the cache): V8 no longer parses 1.6 MB.
// fuse-native stays outside: it finds its native module from its own
// directory. The bundle sits two directories below the root, as the modules
// it holds did, so their paths relative to import.meta.url (defined here as
// the bundle's own URL) still hold.
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { DAEMON_NODE_FLAGS } from '../dist/cli/daemon-client.js'

const root = fileURLToPath(new URL('..', import.meta.url))
/**
 * bundle name → the node flags it runs under (bin/gtfs starts node without
 * any), and the export that loads what it runs first (its code goes in the cache)
 */
const BUNDLES = { 'daemon-main': { flags: DAEMON_NODE_FLAGS, warm: 'preloadDaemon' }, 'mount-plain': { flags: [], warm: 'preloadMount' } }
// the ES module bundle of earlier builds, no longer loaded
rmSync(`${root}dist/bundle/daemon-main.js`, { force: true })
const built = await build({
  absWorkingDir: root,
  entryPoints: Object.fromEntries(Object.keys(BUNDLES).map(name => [name, `dist/cli/${name}.js`])),
  outdir: 'dist/bundle',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  external: ['fuse-native'],
  // strict, as the ES modules it is made of were: the directive must come first
  banner: { js: "'use strict'; const __gtfsImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  define: { 'import.meta.url': '__gtfsImportMetaUrl' },
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
  metafile: true
})
// A script that runBundle compiles has no loader for import(): what a bundle
// does not hold, it must require.
for (const [out, { imports }] of Object.entries(built.metafile.outputs)) {
  const dynamic = imports.filter(i => i.kind === 'dynamic-import' && i.external === true)
  if (dynamic.length > 0) throw new Error(`${out} keeps import() of ${dynamic.map(i => i.path).join(', ')}: require it instead (bin/dist.cjs runBundle)`)
}
// Each cache is made under the flags its bundle runs with, the heap flags set
// back as its entry sets them (V8 refuses it otherwise; bin/dist.cjs restoreV8Defaults).
for (const [name, { flags, warm }] of Object.entries(BUNDLES)) {
  const file = `${root}dist/bundle/${name}.cjs`
  execFileSync(process.execPath, [...flags, '--input-type=module', '-e',
    `const l = await import(${JSON.stringify(`${root}bin/load.mjs`)}); l.restoreV8Defaults(); await l.writeBundleCache(${JSON.stringify(file)}, ${JSON.stringify(warm)})`], { stdio: 'inherit', timeout: 60_000 })
}
