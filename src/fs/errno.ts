/**
 * The one place where errors become errno values. Expected conditions map to
 * their errno; anything unexpected is EIO and is logged, never disguised as
 * ENOENT (a reader must not conclude a file is absent when we failed to read it).
 */
import { constants } from 'node:os'
import { GtfsError } from '../errors.ts'
import { warn } from '../log.ts'

const E = constants.errno

const BY_CODE: Record<string, number> = {
  ENOENT: E.ENOENT,
  ENOTDIR: E.ENOTDIR,
  EISDIR: E.EISDIR,
  EINVAL: E.EINVAL,
  EROFS: E.EROFS,
  ENOATTR: E.ENODATA,
  EBADF: E.EBADF,
  ENAMETOOLONG: E.ENAMETOOLONG
}

/** A negative errno for `err`, as fuse-native callbacks expect. */
export function toErrno (err: unknown, op: string, path: string): number {
  if (err instanceof GtfsError) {
    const errno = BY_CODE[err.code]
    if (errno !== undefined) return -errno
  }
  warn(`${op} ${path}: ${(err as Error)?.message ?? String(err)} (EIO)`)
  return -E.EIO
}

export const ERRNO = E
