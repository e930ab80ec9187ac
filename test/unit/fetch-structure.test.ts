/**
 * fetchStructure (repo/swarm-repo.ts): a repo's first mount on a machine asks
 * for the whole directory structure in one request; any other walks it level
 * by level, asking only for the trees not held; and a walk under way is
 * joined, not repeated. Against a stub fetcher that serves a generated tree
 * into a real store.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { hashObject } from '../../src/git/object-id.ts'
import { fetchStructure } from '../../src/repo/swarm-repo.ts'
import { SwarmSource, type ObjectFetcher } from '../../src/repo/swarm-source.ts'
import { GitObjectStore } from '../../src/store/object-store.ts'
import type { ObjectId, ObjectType } from '../../src/types.ts'

let dir: string
before(async () => { dir = await mkdtemp(join(tmpdir(), 'gtfs-test-structure-')) })
after(async () => { await rm(dir, { recursive: true, force: true }) })

/** The objects of a commit whose tree holds `width` directories of `width` subdirectories, each with one file. */
function remoteRepo (width: number): { objects: Map<ObjectId, { type: ObjectType, data: Buffer }>, commit: ObjectId, trees: ObjectId[] } {
  const objects = new Map<ObjectId, { type: ObjectType, data: Buffer }>()
  const put = (type: ObjectType, data: Buffer): ObjectId => { const id = hashObject(type, data); objects.set(id, { type, data }); return id }
  const tree = (entries: Array<[string, string, ObjectId]>): ObjectId => put('tree', Buffer.concat(entries.map(([mode, name, id]) =>
    Buffer.concat([Buffer.from(`${mode} ${name}\0`), Buffer.from(id, 'hex')]))))
  const trees: ObjectId[] = []
  const top: Array<[string, string, ObjectId]> = []
  for (let i = 0; i < width; i++) {
    const subs: Array<[string, string, ObjectId]> = []
    for (let j = 0; j < width; j++) {
      const t = tree([['100644', 'f', put('blob', Buffer.from(`file ${i}/${j}\n`))]])
      trees.push(t)
      subs.push(['40000', `s${j}`, t])
    }
    const t = tree(subs)
    trees.push(t)
    top.push(['40000', `t${i}`, t])
  }
  const root = tree(top)
  trees.push(root)
  const commit = put('commit', Buffer.from(`tree ${root}\nauthor A <a@b.c> 0 +0000\ncommitter A <a@b.c> 0 +0000\n\nm\n`))
  return { objects, commit, trees }
}

/**
 * A fetcher that serves `objects` (closures of trees too) and records what was
 * asked. A closure leaves out `leaveOut` (not in a depth-0 request) and says
 * it came whole when `whole` is set, as Fetcher does when Peer judged it so.
 */
function stubFetcher (store: GitObjectStore, objects: Map<ObjectId, { type: ObjectType, data: Buffer }>, how: { whole?: boolean, leaveOut?: ObjectId } = {}): { fetcher: ObjectFetcher, asked: Array<{ ids: number, depth: number }> } {
  const asked: Array<{ ids: number, depth: number }> = []
  const fetcher: ObjectFetcher = {
    fetch: async (ids, opts = {}) => {
      asked.push({ ids: ids.length, depth: opts.depth ?? 0 })
      await new Promise(resolve => setTimeout(resolve, 5))
      const queue = [...ids]
      for (let i = 0; i < queue.length; i++) {
        if ((opts.depth ?? 0) > 0 && queue[i] === how.leaveOut) continue
        const o = objects.get(queue[i])!
        await store.write(o.type, o.data, queue[i])
        if ((opts.depth ?? 0) > 0 && o.type === 'tree') {
          for (let p = 0; p < o.data.length;) {
            const nul = o.data.indexOf(0, p)
            const sub = o.data.subarray(p, nul).toString().startsWith('40000 ')
            const id = o.data.subarray(nul + 1, nul + 21).toString('hex')
            if (sub) queue.push(id)
            p = nul + 21
          }
        }
      }
      return (opts.depth ?? 0) > 0 && how.whole === true
    }
  }
  return { fetcher, asked }
}

async function fresh (name: string, width: number, o: { whole?: boolean, leaveOut?: (trees: ObjectId[]) => ObjectId } = {}): Promise<{ store: GitObjectStore, source: SwarmSource, asked: Array<{ ids: number, depth: number }>, commit: ObjectId, trees: ObjectId[] }> {
  const store = await GitObjectStore.open(join(dir, name, 'objects'))
  const { objects, commit, trees } = remoteRepo(width)
  const { fetcher, asked } = stubFetcher(store, objects, { whole: o.whole, leaveOut: o.leaveOut?.(trees) })
  return { store, source: new SwarmSource(store, fetcher), asked, commit, trees }
}

test('a first mount asks for the whole structure in one request; the walk after it finds every tree here', async () => {
  const r = await fresh('whole', 6)
  await fetchStructure(r.source, r.commit, { whole: true })
  assert.deepEqual(r.asked, [{ ids: 1, depth: 0 }, { ids: 1, depth: 64 }])
  for (const t of r.trees) assert.ok(await r.store.has(t), t)
  await r.store.close()
})

test('a closure that arrived whole is not walked again; one that did not is, and what it lacked is fetched', async () => {
  // The same closure, one tree short, with and without the fetcher's word that it came whole.
  const trusted = await fresh('trusted', 4, { whole: true, leaveOut: trees => trees[0] })
  await fetchStructure(trusted.source, trusted.commit, { whole: true })
  assert.deepEqual(trusted.asked, [{ ids: 1, depth: 0 }, { ids: 1, depth: 64 }])
  assert.equal(await trusted.store.has(trusted.trees[0]), false, 'no walk looked for it')
  await trusted.store.close()
  const walked = await fresh('walked', 4, { leaveOut: trees => trees[0] })
  await fetchStructure(walked.source, walked.commit, { whole: true })
  assert.deepEqual(walked.asked, [{ ids: 1, depth: 0 }, { ids: 1, depth: 64 }, { ids: 1, depth: 0 }])
  for (const t of walked.trees) assert.ok(await walked.store.has(t), t)
  await walked.store.close()
})

test('otherwise the structure is walked level by level, and trees held are not asked for', async () => {
  const r = await fresh('levels', 5)
  await fetchStructure(r.source, r.commit)
  assert.deepEqual(r.asked, [{ ids: 1, depth: 0 }, { ids: 1, depth: 0 }, { ids: 5, depth: 0 }, { ids: 25, depth: 0 }])
  for (const t of r.trees) assert.ok(await r.store.has(t), t)
  r.asked.length = 0
  // held already: whole or not, nothing is asked again
  await fetchStructure(r.source, r.commit, { whole: true })
  assert.deepEqual(r.asked, [])
  await r.store.close()
})

test('a walk under way is joined, not started again', async () => {
  const r = await fresh('joined', 4)
  await Promise.all([fetchStructure(r.source, r.commit, { whole: true }), fetchStructure(r.source, r.commit)])
  assert.deepEqual(r.asked, [{ ids: 1, depth: 0 }, { ids: 1, depth: 64 }])
  await r.store.close()
})

test('a caller that joins a walk still stops at its own deadline', async () => {
  const r = await fresh('deadline', 3)
  const slow: ObjectFetcher = { fetch: async () => { await new Promise(resolve => setTimeout(resolve, 300)) } }
  const source = new SwarmSource(r.store, slow)
  const first = fetchStructure(source, r.commit).catch(() => {})
  const t0 = Date.now()
  await assert.rejects(fetchStructure(source, r.commit, { signal: AbortSignal.timeout(30) }), { name: 'TimeoutError' })
  assert.ok(Date.now() - t0 < 250, 'it did not wait for the walk it joined')
  await first
  await r.store.close()
})
