// Loads a module of gtfs: from dist/ (compiled by `npm run build`, which
// scripts/setup.sh runs) when dist/.stamp is newer than every source file,
// else the TypeScript source through tsx's loader, so an edit never runs stale
// code. Only .ts files count: a README edit under src/ changes no code.
// Compiled, a process starts faster and uses about 35 MiB less memory (tsx's
// transpiler is not loaded). GTFS_NO_DIST=1 always takes the sources. The
// daemon and the plain `gtfs mount` run from bundles of dist/ with a V8 code
// cache (dist.cjs runBundle and loadEntry).
import { distIsFresh, root } from './dist.cjs'

export { restoreV8Defaults, runBundle, writeBundleCache } from './dist.cjs'

/** tsx's loader, registered once per process */
let registered

/**
 * `path` relative to src/, without extension: 'cli/main'. (A bundle of
 * dist/bundle/ is taken by the entries themselves: bin/dist.cjs loadEntry.)
 */
export async function load (path) {
  if (distIsFresh()) return await import(`${root}dist/${path}.js`)
  registered ??= import('tsx/esm/api').then(({ register }) => { register() })
  await registered
  return await import(`${root}src/${path}.ts`)
}
