/**
 * bin/load.mjs runs dist/ when its build stamp is newer than every source
 * file, else the sources; a stale build says so on stderr, once. Run in a
 * copy of the layout (bin/load.mjs, src/, dist/), never by touching the
 * project's own files.
 */
import assert from 'node:assert/strict'
import { copyFile, mkdir, symlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { ROOT, run, tempDir } from '../helpers/run.ts'

const tmp = await tempDir('load-dist')
after(async () => { await tmp.remove() })

/** A root with bin/load.mjs (and the dist.cjs it takes), src/m.ts and dist/m.js that say where they came from, and a stamp `stampAge` seconds older than the sources. */
async function layout (name: string, stampAge: number | null): Promise<string> {
  const root = join(tmp.path, name)
  await mkdir(join(root, 'bin'), { recursive: true })
  await mkdir(join(root, 'src'), { recursive: true })
  await mkdir(join(root, 'dist'), { recursive: true })
  await copyFile(join(ROOT, 'bin', 'load.mjs'), join(root, 'bin', 'load.mjs'))
  await copyFile(join(ROOT, 'bin', 'dist.cjs'), join(root, 'bin', 'dist.cjs'))
  await symlink(join(ROOT, 'node_modules'), join(root, 'node_modules'))
  await writeFile(join(root, 'package.json'), '{ "type": "module" }\n')
  await writeFile(join(root, 'src', 'm.ts'), "export const from: string = 'src'\n")
  await writeFile(join(root, 'dist', 'm.js'), "export const from = 'dist'\n")
  const now = Date.now() / 1000
  await utimes(join(root, 'src', 'm.ts'), now, now)
  if (stampAge !== null) {
    await writeFile(join(root, 'dist', '.stamp'), '')
    await utimes(join(root, 'dist', '.stamp'), now - stampAge, now - stampAge)
  }
  return root
}

async function loadFrom (root: string, env: NodeJS.ProcessEnv = {}): Promise<{ from: string, stderr: string }> {
  const load = pathToFileURL(join(root, 'bin', 'load.mjs')).href
  const childEnv = { ...process.env, ...env }
  if (env.GTFS_NO_DIST === undefined) delete childEnv.GTFS_NO_DIST
  const r = await run(process.execPath, ['--input-type=module', '-e', `const { load } = await import(${JSON.stringify(load)}); const a = await load('m'); await load('m'); process.stdout.write(a.from)`], { env: childEnv })
  assert.equal(r.code, 0, r.stderr)
  return { from: r.stdout, stderr: r.stderr }
}

const STALE = /dist\/ is older than src\/: running the TypeScript sources.*npm run build/

test('a fresh build runs dist/ without a word; a stale one runs the sources and says so once; GTFS_NO_DIST=1 and no build at all run the sources quietly', async () => {
  const fresh = await loadFrom(await layout('fresh', -60))
  assert.deepEqual(fresh, { from: 'dist', stderr: '' })

  const stale = await loadFrom(await layout('stale', 60))
  assert.equal(stale.from, 'src')
  assert.match(stale.stderr, STALE)
  assert.equal(stale.stderr.split('\n').filter(l => STALE.test(l)).length, 1, 'once per process')

  const asked = await loadFrom(await layout('asked', 60), { GTFS_NO_DIST: '1' })
  assert.deepEqual(asked, { from: 'src', stderr: '' })

  const unbuilt = await loadFrom(await layout('unbuilt', null))
  assert.deepEqual(unbuilt, { from: 'src', stderr: '' })
})
