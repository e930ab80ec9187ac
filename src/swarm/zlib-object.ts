/**
 * Objects that travel as zlib streams (`object` messages with `zs`): the
 * bound on a stream's length for a given inflated size, and the one inflate a
 * requester runs on what a peer sent, capped before it starts (zlib bombs).
 *
 * A git pack entry's data is exactly a zlib stream of the object's bytes, so a
 * seeder sends a whole entry as stored (no inflate) and a requester stores the
 * stream it received as its own pack entry (no deflate), as git's protocol does.
 */
import { inflateSync } from 'node:zlib'
import { IntegrityError } from '../errors.ts'
import type { ObjectId, ObjectType } from '../types.ts'
import { inflateHash } from '../zlib-worker.ts'

/**
 * Bytes a zlib stream of `size` bytes may take, with room to spare: zlib's
 * deflateBound for any settings (stored blocks cost 5 bytes per 64 KiB; its
 * conservative bound adds an eighth and a sixty-fourth) plus the 6-byte zlib
 * wrapper, rounded up. A stream longer than this is not one an honest encoder wrote.
 */
export function zlibBound (size: number): number {
  return size + Math.ceil(size / 8) + Math.ceil(size / 64) + 64
}

interface InflateInfo { buffer: Buffer, engine: { bytesWritten: number } }

/**
 * Inflates `stream`, which must be one whole zlib stream of exactly `size`
 * bytes: never more output than that (the inflate stops there), no bytes after
 * the stream's end (they would become part of a stored pack entry).
 * EBADZLIB: not a zlib stream, truncated, or followed by bytes; EBADSIZE:
 * another size.
 */
export function inflateExact (stream: Buffer, size: number, what: string): Buffer {
  let out: InflateInfo
  try {
    out = inflateSync(stream, { maxOutputLength: Math.max(1, size), info: true }) as unknown as InflateInfo
  } catch (cause) {
    throw inflateError((cause as NodeJS.ErrnoException).code, (cause as Error).message, size, what, cause)
  }
  checkInflated(out.buffer.length, out.engine.bytesWritten, stream.length, size, what)
  return out.buffer
}

function inflateError (code: string | undefined, message: string, size: number, what: string, cause?: unknown): IntegrityError {
  if (code === 'ERR_BUFFER_TOO_LARGE') return new IntegrityError(`${what} inflates past its announced ${size} bytes`, { code: 'EBADSIZE', cause })
  return new IntegrityError(`${what} does not inflate: ${message}`, { code: 'EBADZLIB', cause })
}

function checkInflated (got: number, used: number, streamBytes: number, size: number, what: string): void {
  if (got !== size) throw new IntegrityError(`${what} inflates to ${got} bytes, announced ${size}`, { code: 'EBADSIZE' })
  if (used !== streamBytes) throw new IntegrityError(`${what}: ${streamBytes - used} bytes after the end of its zlib stream`, { code: 'EBADZLIB' })
}

/**
 * What inflateExact and the hash check do, on the zlib worker thread: a
 * reader's main thread spent ~15% of a cold walk inflating streams there.
 * `stream` is copied to the worker and comes back as `stream` of the result
 * (the one to keep); `data` is the object. Fails as inflateExact does, and
 * with EBADHASH (after the size checks) for bytes that hash to another id;
 * errors name the object as "<type> <id>". A promise chain, not an async
 * function: see inflateHash.
 */
export function inflateAndHash (type: ObjectType, id: ObjectId, stream: Buffer, size: number): Promise<{ data: Buffer, stream: Buffer }> {
  return inflateHash({ stream, size, type, id }).then(r => {
    if (r.data === null) throw inflateError(r.code, r.message ?? 'no data', size, `${type} ${id}`)
    checkInflated(r.data.length, r.used, r.stream.length, size, `${type} ${id}`)
    if (r.hash !== undefined) throw new IntegrityError(`peer sent ${type} ${id} whose bytes hash to ${r.hash}`, { code: 'EBADHASH' })
    return r as { data: Buffer, stream: Buffer }
  })
}
