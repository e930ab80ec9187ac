/**
 * Crash-safe small files (the keyring, the accepted state, the local trust
 * override, the DHT's routing table and pointer seqs). A leaf: it imports
 * only errors.ts, so every layer may use it. A reader sees either the old file or the new one, never a torn
 * write, because the new bytes go to a temp file in the same directory, are
 * fsynced, renamed over the target, and the directory is fsynced so the rename
 * itself survives a power cut.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { ProtocolError } from './errors.ts'

function tooLarge (what: string, size: number, cap: number): ProtocolError {
  return new ProtocolError('ETOOLARGE', `${what} is ${size} bytes, over the ${cap}-byte cap`)
}

export async function writeFileAtomic (path: string, data: Uint8Array | string, opts: { mode: number, dirMode?: number }): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true, mode: opts.dirMode ?? 0o700 })
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
  // 'wx': never follow or reuse an existing file at the temp name.
  const fh = await open(tmp, 'wx', opts.mode)
  try {
    try {
      // The umask may have narrowed the mode, never widened it; set it exactly.
      await fh.chmod(opts.mode)
      await fh.writeFile(data)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
  await syncDir(dir)
}

/** fsyncs a directory, so that a rename in it survives a power cut */
export async function syncDir (dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/**
 * Reads a whole file unless it is larger than `maxBytes` (ETOOLARGE, checked
 * on the open file's size before reading). Returns null when it does not exist.
 */
export async function readFileCapped (path: string, maxBytes: number, what: string): Promise<Buffer | null> {
  let fh
  try {
    fh = await open(path, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  try {
    const { size } = await fh.stat()
    if (size > maxBytes) throw tooLarge(what, size, maxBytes)
    const data = await fh.readFile()
    // Our files are replaced by rename, never grown in place; this only
    // catches a file someone else is appending to.
    if (data.byteLength > maxBytes) throw tooLarge(what, data.byteLength, maxBytes)
    return data
  } finally {
    await fh.close()
  }
}

/** Writes all of `buf` at file offset `position`, through short writes. */
export async function writeAllAt (fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  for (let done = 0; done < buf.length;) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done)
    done += bytesWritten
  }
}

/** writev takes at most IOV_MAX (1024 on Linux) buffers a call */
const IOV_BATCH = 1000

/** Writes every buffer, in order, at the file's position: through short writes and any number of buffers. */
export async function writevAll (fh: FileHandle, bufs: readonly Buffer[]): Promise<void> {
  let at = 0 // the first buffer not yet written whole
  let skip = 0 // its bytes already written
  while (at < bufs.length) {
    const batch = bufs.slice(at, at + IOV_BATCH)
    if (skip > 0) batch[0] = batch[0].subarray(skip)
    let { bytesWritten } = await fh.writev(batch)
    // A short write goes on from where it stopped (an index: slicing the list
    // per buffer written allocated ~4 MB per 1,000 buffers).
    for (const b of batch) {
      if (bytesWritten < b.length) break
      bytesWritten -= b.length
      at++
      skip = 0
    }
    skip += bytesWritten
  }
}
