/**
 * Unmounting through fusermount, with execFile (no shell: a mountpoint name is
 * never interpreted). A plain unmount first; when the filesystem is busy or its
 * process is gone, a lazy one (-z) detaches it anyway.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { EnvironmentError } from '../errors.ts'

const run = promisify(execFile)

export async function fusermount (dir: string, lazy: boolean): Promise<void> {
  await run('fusermount', [lazy ? '-uz' : '-u', '--', dir], { timeout: 10_000 })
}

/** Unmounts `dir`; falls back to a lazy unmount. Throws when both fail. */
export async function unmountDir (dir: string): Promise<'clean' | 'lazy'> {
  try {
    await fusermount(dir, false)
    return 'clean'
  } catch (first) {
    try {
      await fusermount(dir, true)
      return 'lazy'
    } catch (err) {
      const msg = ((err as { stderr?: string }).stderr ?? (first as Error).message).trim()
      throw new EnvironmentError('EUNMOUNT', `could not unmount ${dir}: ${msg}`, { hint: 'close programs using it, then retry' })
    }
  }
}
