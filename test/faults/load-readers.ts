/**
 * Readers for the load test, in one process with a thread pool as wide as the
 * readers (else libuv's four threads would queue them): each reads a random
 * file of the mount, whole or a random range, and compares it with the same
 * bytes of a plain checkout, until the time is up.
 *
 *   UV_THREADPOOL_SIZE=64 node --import tsx test/faults/load-readers.ts <mount> <checkout> <readers> <seconds> <seed>
 *
 * Prints {"reads", "bytes", "errors", "wrong", "firstError"} at the end.
 */
import { open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { rng } from '../helpers/rng.ts'
import { contents } from '../helpers/swarm.ts'

const [mount, checkout, readersArg, secondsArg, seedArg] = process.argv.slice(2)
const files = [...(await contents(checkout)).entries()].filter(([p, v]) => v.startsWith('-') && !p.startsWith('.git/')).map(([p]) => p)
const end = Date.now() + Number(secondsArg) * 1000
let reads = 0
let bytes = 0
let errors = 0
let wrong = 0
let firstError: string | null = null

async function reader (n: number): Promise<void> {
  const rand = rng(Number(seedArg) * 1000 + n)
  while (Date.now() < end) {
    const p = files[Math.floor(rand() * files.length)]
    try {
      if (rand() < 0.3) {
        const [got, want] = await Promise.all([readFile(join(mount, p)), readFile(join(checkout, p))])
        bytes += got.length
        if (!got.equals(want)) { wrong++; firstError ??= `${p}: whole file differs` }
      } else {
        const want = await readFile(join(checkout, p))
        const off = Math.floor(rand() * want.length)
        const len = Math.min(want.length - off, 1 + Math.floor(rand() * 256 * 1024))
        const fh = await open(join(mount, p), 'r')
        try {
          const buf = Buffer.alloc(len)
          const { bytesRead } = await fh.read(buf, 0, len, off)
          bytes += bytesRead
          if (bytesRead !== len || !buf.equals(want.subarray(off, off + len))) { wrong++; firstError ??= `${p}: ${len} bytes at ${off} differ` }
        } finally {
          await fh.close()
        }
      }
      reads++
    } catch (err) {
      errors++
      firstError ??= `${p}: ${(err as Error).message}`
    }
  }
}

await Promise.all(Array.from({ length: Number(readersArg) }, async (_, n) => { await reader(n) }))
process.stdout.write(JSON.stringify({ reads, bytes, errors, wrong, firstError }) + '\n')
