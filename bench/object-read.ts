/**
 * npm run bench:objects — how fast each candidate reads every blob of the wide
 * fixture (packed, with deltas): gtfs's own store reader, a long-lived
 * `git cat-file --batch`, and isomorphic-git's readObject with a shared cache.
 * This is the measurement behind the choice of reader in src/store/.
 */
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import { join } from 'node:path'
import git from 'isomorphic-git'
import { GitObjectStore } from '../src/store/object-store.ts'

const dir = process.argv[2] ?? '/var/tmp/gtfs-bench-quick/fixtures/wide'
const limit = Number(process.argv[3] ?? 5000)

async function blobIds (): Promise<string[]> {
  const out = await new Promise<string>((resolve, reject) => {
    const c = spawn('git', ['-C', dir, 'ls-tree', '-r', 'main'], { stdio: ['ignore', 'pipe', 'inherit'] })
    let s = ''
    c.stdout.on('data', (d: Buffer) => { s += d.toString() })
    c.on('close', code => { code === 0 ? resolve(s) : reject(new Error('ls-tree failed')) })
  })
  return out.trim().split('\n').map(l => l.split(/\s+/)[2]).slice(0, limit)
}

async function timeIt (name: string, ids: string[], fn: (ids: string[]) => Promise<number>): Promise<void> {
  const t0 = performance.now()
  const bytes = await fn(ids)
  const s = (performance.now() - t0) / 1000
  process.stdout.write(`${name.padEnd(28)} ${(ids.length / s).toFixed(0).padStart(8)} blobs/s  ${(bytes / 2 ** 20 / s).toFixed(0).padStart(5)} MiB/s\n`)
}

const ids = await blobIds()
process.stdout.write(`${ids.length} blobs of ${dir}\n`)

await timeIt('gtfs GitObjectStore', ids, async ids => {
  const store = await GitObjectStore.open(join(dir, '.git', 'objects'))
  let n = 0
  for (const id of ids) n += (await store.read(id)).data.length
  await store.close()
  return n
})

await timeIt('git cat-file --batch', ids, async ids => {
  const c = spawn('git', ['-C', dir, 'cat-file', '--batch'], { stdio: ['pipe', 'pipe', 'inherit'] })
  let buf = Buffer.alloc(0)
  let total = 0
  let waiting: (() => void) | null = null
  c.stdout.on('data', (d: Buffer) => { buf = Buffer.concat([buf, d]); waiting?.() })
  const next = async (): Promise<void> => {
    for (;;) {
      const nl = buf.indexOf(10)
      if (nl >= 0) {
        const size = Number(buf.toString('latin1', 0, nl).split(' ')[2])
        if (buf.length >= nl + 1 + size + 1) { total += size; buf = buf.subarray(nl + 1 + size + 1); return }
      }
      await new Promise<void>(resolve => { waiting = resolve })
    }
  }
  for (const id of ids) { c.stdin.write(id + '\n'); await next() }
  c.stdin.end()
  return total
})

await timeIt('isomorphic-git readObject', ids, async ids => {
  const cache = {}
  let n = 0
  for (const id of ids) {
    const o = await git.readObject({ fs, dir, oid: id, cache, format: 'content' })
    n += (o.object as Uint8Array).length
  }
  return n
})
