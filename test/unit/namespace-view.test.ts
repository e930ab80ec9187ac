/** The automount namespace's TreeView and the aliases file, without FUSE or processes. */
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { NotFoundError } from '../../src/errors.ts'
import { aliasesFile, checkAliasName, loadAliases, saveAliases } from '../../src/repo/aliases.ts'
import { NamespaceView, type NamespaceEntry } from '../../src/repo/namespace-view.ts'
import { parseRepoRef } from '../../src/repo/repo-ref.ts'
import { tempDir } from '../helpers/run.ts'
import { tinyView } from '../helpers/tiny-view.ts'

test('the namespace routes /<name>/... to the repo views, keeps their inodes apart, lists what is resolved', async () => {
  const views = new Map<string, NamespaceEntry>([['a', { view: tinyView('A'), slot: 1 }], ['b', { view: tinyView('B'), slot: 2 }]])
  const resolved: string[] = []
  const ns = new NamespaceView({
    lookup: async name => {
      const e = views.get(name)
      if (e === undefined) throw new NotFoundError(`/${name}: not a repo`, { code: 'ENOENT' })
      if (!resolved.includes(name)) resolved.push(name)
      return e
    },
    list: () => [...resolved],
    mtime: new Date(0)
  })
  assert.deepEqual(await ns.readdir('/'), [])
  assert.equal((await ns.stat('/')).ino, 1)
  await assert.rejects(ns.stat('/zzz'), { code: 'ENOENT' })
  assert.deepEqual(await ns.readdir('/a'), ['f'])
  const buf = Buffer.alloc(4)
  const h = await ns.open('/b/f')
  assert.equal(buf.subarray(0, await h.read(buf, 4, 0)).toString(), 'B')
  await assert.rejects(ns.stat('/a/missing'), { code: 'ENOENT' })
  assert.deepEqual(await ns.readdir('/'), ['a', 'b'])
  const inos = [await ns.stat('/'), await ns.stat('/a'), await ns.stat('/b'), await ns.stat('/a/f'), await ns.stat('/b/f')].map(a => a.ino)
  assert.equal(new Set(inos).size, inos.length, `distinct inodes: ${inos.join(', ')}`)
  assert.equal((await ns.stat('/a')).kind, 'dir')
  assert.equal((await ns.stat('/')).nlink, 4)
  await assert.rejects(ns.open('/'), { code: 'EISDIR' })
})

test('aliases: checked names, one atomic file, bad entries ignored; mount takes an alias', async () => {
  const key = 'ab'.repeat(32)
  for (const bad of ['', '.x', '-x', 'a/b', 'a b', 'x'.repeat(65), key, key.toUpperCase()]) {
    assert.throws(() => checkAliasName(bad), { code: 'EBADALIAS' }, JSON.stringify(bad))
  }
  for (const good of ['debian', 'Debian-12.5', 'tools@home', 'a_b+c']) assert.equal(checkAliasName(good), good)
  const tmp = await tempDir('aliases')
  try {
    assert.equal((await loadAliases(tmp.path)).size, 0)
    await saveAliases(tmp.path, new Map([['zeta', key], ['alpha', key]]))
    assert.deepEqual(JSON.parse(await readFile(aliasesFile(tmp.path), 'utf8')), { alpha: key, zeta: key })
    assert.deepEqual(await parseRepoRef('alpha', tmp.path), { key })
    await assert.rejects(parseRepoRef('beta', tmp.path), { code: 'EBADKEY' })
    await writeFile(join(tmp.path, 'aliases.json'), JSON.stringify({ ok: key.toUpperCase(), 'bad/name': key, short: 'abc', n: 1 }))
    assert.deepEqual([...await loadAliases(tmp.path)], [['ok', key]])
    await writeFile(join(tmp.path, 'aliases.json'), '[1]')
    await assert.rejects(loadAliases(tmp.path), { code: 'EBADALIASES' })
  } finally {
    await tmp.remove()
  }
})
