/**
 * Typed errors. Every error gtfs raises on purpose is a GtfsError with a stable
 * `code`; tests and callers branch on the code, never on message text. `hint`
 * says what the user can do about it (the CLI prints it after the message).
 */
export class GtfsError extends Error {
  readonly code: string
  readonly hint?: string

  constructor (code: string, message: string, opts: { hint?: string, cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = new.target.name
    this.code = code
    this.hint = opts.hint
  }
}

type Opts = { hint?: string, cause?: unknown }

/** An object, ref, path or file that does not exist. */
export class NotFoundError extends GtfsError {
  constructor (message: string, opts: Opts & { code?: string } = {}) { super(opts.code ?? 'ENOTFOUND', message, opts) }
}

/** Bytes that do not hash to the id they claim, or a corrupt structure. */
export class IntegrityError extends GtfsError {
  constructor (message: string, opts: Opts & { code?: string } = {}) { super(opts.code ?? 'EINTEGRITY', message, opts) }
}

/** A tree entry or path that must never become a directory entry. */
export class UnsafePathError extends GtfsError {
  constructor (message: string, opts: Opts = {}) { super('EUNSAFEPATH', message, opts) }
}

/** Data that trust rules refused (signatures, policy, manifest state). */
export class UntrustedError extends GtfsError {
  constructor (code: string, message: string, opts: Opts = {}) { super(code, message, opts) }
}

/** A peer or file that broke a format or a cap. */
export class ProtocolError extends GtfsError {
  constructor (code: string, message: string, opts: Opts = {}) { super(code, message, opts) }
}

/** A deadline passed. */
export class TimeoutError extends GtfsError {
  constructor (message: string, opts: Opts = {}) { super('ETIMEOUT', message, opts) }
}

/** Bad input from the user: arguments, paths, configuration. */
export class UsageError extends GtfsError {
  constructor (code: string, message: string, opts: Opts = {}) { super(code, message, opts) }
}

/** Something on this machine is missing or in the way (FUSE, git, a mount). */
export class EnvironmentError extends GtfsError {
  constructor (code: string, message: string, opts: Opts = {}) { super(code, message, opts) }
}

export function isGtfsError (err: unknown, code?: string): err is GtfsError {
  return err instanceof GtfsError && (code === undefined || err.code === code)
}
