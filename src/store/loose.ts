/**
 * Loose objects: objects/<2 hex>/<38 hex>, zlib-deflated "<type> <size>\0<data>".
 * Writes go to a temp file in the objects directory, are hash-checked before
 * the rename, and are fsynced, so a crash leaves either nothing or a whole object.
 */
import { mkdir, open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { deflateSync, inflateSync } from 'node:zlib'
import { IntegrityError } from '../errors.ts'
import { hashObject, objectHeader, parseObjectHeader } from '../git/object-id.ts'
import type { GitObject, ObjectId, ObjectType } from '../types.ts'
import { inflatePrefix } from './pack-file.ts'

/** temp names: pid + counter are unique on this machine, and cost no entropy */
let tmpCounter = 0

/** fan-out directories known to exist: at most 256 per store, so no bound is needed */
const madeDirs = new Set<string>()

export function loosePath (objectsDir: string, id: ObjectId): string {
  return join(objectsDir, id.slice(0, 2), id.slice(2))
}

function isMissing (err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT'
}

/** Type and size from the first bytes of a loose object, or null when it is not there. */
export async function looseHeader (objectsDir: string, id: ObjectId): Promise<{ type: ObjectType, size: number } | null> {
  let fh
  try {
    fh = await open(loosePath(objectsDir, id), 'r')
  } catch (err) {
    if (isMissing(err)) return null
    throw err
  }
  try {
    // The header ("blob 123\0") is in the first few inflated bytes, but a
    // stream that opens with a long code table yields none from a short
    // prefix (tables of ~115 bytes were seen in packs): read 4 times more
    // until the header's NUL comes out or the file ends.
    for (let take = 256; ; take *= 4) {
      const buf = Buffer.alloc(take)
      const { bytesRead } = await fh.read(buf, 0, take, 0)
      const head = inflatePrefix(buf.subarray(0, bytesRead))
      if (head.includes(0) || bytesRead < take || take >= 64 * 1024) {
        const { type, size } = parseObjectHeader(head, `loose object ${id}`)
        return { type, size }
      }
    }
  } finally {
    await fh.close()
  }
}

/** Reads a whole loose object, or null when it is not there. Caps the inflated size. */
export async function readLoose (objectsDir: string, id: ObjectId, maxSize: number): Promise<GitObject | null> {
  let raw: Buffer
  try {
    raw = await readFile(loosePath(objectsDir, id))
  } catch (err) {
    if (isMissing(err)) return null
    throw err
  }
  let inflated: Buffer
  try {
    inflated = inflateSync(raw, { maxOutputLength: maxSize + 64 })
  } catch (cause) {
    const tooBig = (cause as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE'
    throw new IntegrityError(`loose object ${id} ${tooBig ? `is over the cap of ${maxSize} bytes` : 'does not inflate'}`,
      { code: tooBig ? 'ETOOLARGE' : 'EMALFORMED', cause })
  }
  const { type, size, start } = parseObjectHeader(inflated, `loose object ${id}`)
  if (inflated.length - start !== size) throw new IntegrityError(`loose object ${id}: size mismatch`, { code: 'EMALFORMED' })
  return { type, data: inflated.subarray(start) }
}

/**
 * Writes an object unless it exists; verifies it hashes to `expected` (when
 * given) before it becomes visible. Returns its id. `sync: false` skips the
 * fsync, for objects that can be fetched again: a torn one fails its hash on
 * read and is removed (see removeLoose).
 */
export async function writeLoose (objectsDir: string, type: ObjectType, data: Buffer, expected?: ObjectId, sync = true): Promise<ObjectId> {
  const id = hashObject(type, data)
  if (expected !== undefined && id !== expected) {
    throw new IntegrityError(`object claimed to be ${expected} hashes to ${id}`, { code: 'EBADHASH' })
  }
  await writeObjectFile(objectsDir, id, async fh => {
    await fh.writeFile(deflateSync(Buffer.concat([objectHeader(type, data.length), data]), { level: 1 }))
  }, sync)
  return id
}

/**
 * Puts the loose object file of `id` in place: `write` fills a temp file in its
 * fan-out directory, which is fsynced (with `sync`) and renamed over the final
 * name; on failure the temp file goes. The caller has checked the hash.
 */
export async function writeObjectFile (objectsDir: string, id: ObjectId, write: (fh: FileHandle) => Promise<void>, sync: boolean): Promise<void> {
  const final = loosePath(objectsDir, id)
  const dir = join(objectsDir, id.slice(0, 2))
  if (!madeDirs.has(dir)) {
    await mkdir(dir, { recursive: true })
    madeDirs.add(dir)
  }
  const tmp = join(dir, `.tmp-${id.slice(2, 10)}-${process.pid}-${(tmpCounter++).toString(36)}`)
  const fh = await open(tmp, 'wx', 0o444).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err
    // The fan-out directory was removed since we made it (a cleanup): make it again.
    await mkdir(dir, { recursive: true })
    return await open(tmp, 'wx', 0o444)
  })
  try {
    await write(fh)
    if (sync) await fh.sync()
  } catch (err) {
    await fh.close()
    await unlink(tmp).catch(() => {})
    throw err
  }
  await fh.close()
  await rename(tmp, final)
}

/** Removes a loose object (a corrupt one, so that it can be fetched again). */
export async function removeLoose (objectsDir: string, id: ObjectId): Promise<void> {
  await unlink(loosePath(objectsDir, id)).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err })
}
