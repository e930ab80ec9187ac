/**
 * The namespace view mounted through FUSE in this process (as catalog-mount
 * does). The kernel serializes lookups within one directory (libfuse 2 has no
 * parallel dirops), so a repo that takes long to resolve must not hold the
 * root: its name shows as a directory after rootWaitMs, what is below it
 * waits for the repo and ends with EIO at the deadline, and meanwhile the root
 * and the other repos answer.
 */
import assert from 'node:assert/strict'
import { mkdir, readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { NotFoundError } from '../../src/errors.ts'
import { mountView, type Mounted } from '../../src/fs/mount.ts'
import { NamespaceView, type NamespaceEntry } from '../../src/repo/namespace-view.ts'
import { tempDir } from '../helpers/run.ts'
import { tinyView } from '../helpers/tiny-view.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>
let mnt: string
let mounted: Mounted | undefined
let open!: () => void
const gate = new Promise<void>(resolve => { open = resolve })
let slowDone = false
const resolved: string[] = []
const META_MS = 1500
const ROOT_WAIT_MS = 200

before(async () => {
  tmp = await tempDir('namespace')
  mnt = join(tmp.path, 'ns')
  await mkdir(mnt)
  const fast: NamespaceEntry = { view: tinyView('fast\n'), slot: 1 }
  const slow: NamespaceEntry = { view: tinyView('slow\n'), slot: 2 }
  void gate.then(() => { slowDone = true; resolved.push('slow') })
  const ns = new NamespaceView({
    lookup: async (name, opts) => {
      if (name === 'fast') { if (!resolved.includes(name)) resolved.push(name); return fast }
      if (name !== 'slow') throw new NotFoundError(`/${name}: not a repo`, { code: 'ENOENT' })
      // Like a repo being resolved: the caller's deadline ends its wait, not the resolution.
      await Promise.race([gate, new Promise((_resolve, reject) => opts?.signal?.addEventListener('abort', () => { reject(opts.signal!.reason) }, { once: true }))])
      return slow
    },
    list: () => [...resolved],
    mtime: new Date(0),
    pending: async name => name === 'slow' && !slowDone ? 2 : null,
    rootWaitMs: ROOT_WAIT_MS
  })
  mounted = await mountView(ns, mnt, { label: 'gtfs-namespace-test', cacheSeconds: 1, follow: true, metaDeadlineMs: META_MS, readDeadlineMs: META_MS })
})

after(async () => {
  open()
  await mounted?.unmount()
  await tmp.remove()
})

async function ms<T> (p: Promise<T>): Promise<[T | string, number]> {
  const t0 = Date.now()
  const v = await p.catch((err: NodeJS.ErrnoException) => err.code ?? String(err))
  return [v, Date.now() - t0]
}

test('a repo that resolves slowly holds neither the root nor the others, fails at the deadline, and appears once resolved', async () => {
  await assert.rejects(stat(join(mnt, 'nope')), { code: 'ENOENT' }, 'no repo: ENOENT at once')
  assert.equal(await readFile(join(mnt, 'fast', 'f'), 'utf8'), 'fast\n')

  // The name answers as a directory after ROOT_WAIT_MS, while its repo still resolves.
  const [st, took] = await ms(stat(join(mnt, 'slow')))
  assert.equal(typeof st === 'object' && st.isDirectory(), true, String(st))
  assert.ok(took >= ROOT_WAIT_MS - 50 && took < META_MS, `placeholder after ${took} ms`)

  // Below it, operations wait for the repo; meanwhile the root and the other repo answer.
  const t0 = Date.now()
  const below = ms(readdir(join(mnt, 'slow')))
  await new Promise(resolve => setTimeout(resolve, 100))
  assert.deepEqual(await readdir(mnt), ['fast'])
  await assert.rejects(stat(join(mnt, 'other')), { code: 'ENOENT' })
  assert.equal(await readFile(join(mnt, 'fast', 'f'), 'utf8'), 'fast\n')
  assert.ok(Date.now() - t0 < META_MS - 200, `the others answered after ${Date.now() - t0} ms`)
  const [err, waited] = await below
  assert.equal(err, 'EIO', 'a repo that does not resolve in time: EIO')
  assert.ok(waited >= META_MS - 100 && waited < META_MS + 3000, `EIO after ${waited} ms`)

  open()
  assert.equal(await readFile(join(mnt, 'slow', 'f'), 'utf8'), 'slow\n')
  assert.deepEqual((await readdir(mnt)).sort(), ['fast', 'slow'])
})
