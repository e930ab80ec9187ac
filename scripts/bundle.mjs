// Bundles the daemon's entry (dist/cli/daemon-main.js, compiled by tsc) into
// one module, dist/bundle/daemon-main.js, that bin/gtfs-daemon.js loads when
// dist/ is fresh (bin/load.js). Node's ES module loader costs about half a
// millisecond per module; the daemon loads about a hundred of gtfs's own, and
// every `gtfs mount` that starts a daemon waits for it: measured in pairs,
// spawn to listening 228-236 -> 188-197 ms. The packages it uses are bundled
// too (bittorrent-dht and bittorrent-protocol are some forty modules with
// their dependencies): spawn to listening, median of 11, 370 -> 297 ms.
// fuse-native stays outside: it finds its native module from its own
// directory. CommonJS packages inside an ES module get `require` from the
// banner. The bundle sits two directories below the root, as the modules it
// holds did, so their paths relative to import.meta.url still hold.
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
await build({
  absWorkingDir: root,
  entryPoints: { 'daemon-main': 'dist/cli/daemon-main.js' },
  outdir: 'dist/bundle',
  bundle: true,
  external: ['fuse-native'],
  banner: { js: "import { createRequire as __gtfsCreateRequire } from 'node:module'; const require = __gtfsCreateRequire(import.meta.url);" },
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning'
})
