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
    if ((cause as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new IntegrityError(`${what} inflates past its announced ${size} bytes`, { code: 'EBADSIZE', cause })
    }
    throw new IntegrityError(`${what} does not inflate: ${(cause as Error).message}`, { code: 'EBADZLIB', cause })
  }
  if (out.buffer.length !== size) throw new IntegrityError(`${what} inflates to ${out.buffer.length} bytes, announced ${size}`, { code: 'EBADSIZE' })
  if (out.engine.bytesWritten !== stream.length) {
    throw new IntegrityError(`${what}: ${stream.length - out.engine.bytesWritten} bytes after the end of its zlib stream`, { code: 'EBADZLIB' })
  }
  return out.buffer
}
