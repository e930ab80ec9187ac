/**
 * How the CLI speaks: one line for an expected failure (what went wrong, then
 * what to do), a stack only with --debug, JSON when asked for data.
 */
import { GtfsError } from '../errors.ts'

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const

export function printError (err: unknown, debug: boolean, json = false): number {
  if (json) {
    // Scripts (and tests) branch on the stable code.
    const e = err instanceof GtfsError ? err : new GtfsError('EUNEXPECTED', (err as Error)?.message ?? String(err))
    process.stderr.write(JSON.stringify({ error: { code: e.code, message: e.message, hint: e.hint } }) + '\n')
    if (debug) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`)
    return e.code === 'EUSAGE' ? EXIT.usage : EXIT.failure
  }
  if (err instanceof GtfsError) {
    process.stderr.write(`gtfs: ${err.message}\n`)
    if (err.hint !== undefined) process.stderr.write(`  ${err.hint}\n`)
    if (debug) process.stderr.write(`${err.stack ?? ''}\n  code: ${err.code}\n`)
    return err.code === 'EUSAGE' ? EXIT.usage : EXIT.failure
  }
  const e = err as Error
  process.stderr.write(`gtfs: unexpected error: ${e?.message ?? String(err)}\n`)
  if (debug) process.stderr.write(`${e?.stack ?? ''}\n`)
  else process.stderr.write('  run again with --debug for details, and report it\n')
  return EXIT.failure
}

export function printJson (value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n')
}
