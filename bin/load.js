// Loads a module of gtfs: from dist/ (compiled by `npm run build`, which
// scripts/setup.sh runs) when dist/.stamp is newer than every source file,
// else the TypeScript source through tsx's loader, so an edit never runs stale
// code. Only .ts files count: a README edit under src/ changes no code.
// Compiled, a process starts faster and uses about 35 MiB less memory (tsx's
// transpiler is not loaded). GTFS_NO_DIST=1 always takes the sources.
import { existsSync, readdirSync, statSync } from 'node:fs'
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

function distIsFresh () {
  if (process.env.GTFS_NO_DIST === '1') return false
  try {
    fresh ??= statSync(`${root}dist/.stamp`).mtimeMs >= newest(`${root}src`)
  } catch {
    fresh = false
  }
  return fresh
}

/**
 * `path` relative to src/, without extension: 'cli/main'. `bundle`: the name
 * of its bundle in dist/bundle/ (scripts/bundle.mjs), taken when dist/ is fresh.
 */
export async function load (path, bundle) {
  if (distIsFresh()) {
    if (bundle !== undefined && existsSync(`${root}dist/bundle/${bundle}.js`)) return await import(`${root}dist/bundle/${bundle}.js`)
    return await import(`${root}dist/${path}.js`)
  }
  registered ??= import('tsx/esm/api').then(({ register }) => { register() })
  await registered
  return await import(`${root}src/${path}.ts`)
}
