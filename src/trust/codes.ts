/**
 * Stable error codes raised by src/trust. Callers and tests branch on these
 * strings, never on message text, so a code is never renamed or reused.
 */
import { IntegrityError, ProtocolError, UntrustedError } from '../errors.ts'

/** Not enough unique valid signers for a rule (policy roots, a ref rule). */
export const ETHRESHOLD = 'ETHRESHOLD'
/** A signature that does not verify over the bytes it claims to sign. */
export const EBADSIG = 'EBADSIG'
/** A signature by a key the policy (or the local trust override) does not name. */
export const EUNKNOWNSIGNER = 'EUNKNOWNSIGNER'
/** A manifest (or state, or policy) older than the one already accepted. */
export const EROLLBACK = 'EROLLBACK'
/** Same seq as the accepted manifest but different bytes: equivocation. */
export const ESEQCONFLICT = 'ESEQCONFLICT'
/** `prev` does not chain to the last accepted manifest or policy. */
export const EPREV = 'EPREV'
/** `created` lies in the future beyond the allowed clock skew. */
export const EFUTURE = 'EFUTURE'
/** The manifest's `expires` has passed. */
export const EEXPIRED = 'EEXPIRED'
/** A manifest (or policy link) made for another repo key. */
export const EREPLAY = 'EREPLAY'
/** A ref moved to a commit that does not descend from the accepted one. */
export const ENONFF = 'ENONFF'
/** Catalog bytes that do not hash to the hash in the signed manifest. */
export const ECATALOG = 'ECATALOG'
/** Input over its size or count cap; refused before parsing. */
export const ETOOLARGE = 'ETOOLARGE'
/** The signing key is revoked at verification time. */
export const EKEYREVOKED = 'EKEYREVOKED'
/** The signing key (or signing subkey) is expired at verification time. */
export const EKEYEXPIRED = 'EKEYEXPIRED'
/** A policy update not signed by a threshold of both old and new roots, or a forked policy. */
export const EPOLICYROTATION = 'EPOLICYROTATION'
/** A manifest made under another policy version or hash than the one given. */
export const EPOLICYMISMATCH = 'EPOLICYMISMATCH'
/** Bytes or values that break a format: bad JSON, non-canonical, bad field. */
export const EMALFORMED = 'EMALFORMED'
/** RSA shorter than 2048 bits, DSA, or another algorithm too weak to sign. */
export const EWEAKKEY = 'EWEAKKEY'
/** A key algorithm gtfs does not accept for signing (only EdDSA and RSA). */
export const EKEYALGO = 'EKEYALGO'
/** A secret key that needs a passphrase, or got a wrong one. */
export const EPASSPHRASE = 'EPASSPHRASE'
/** A persisted state or local-trust file that cannot be read back. */
export const ESTATECORRUPT = 'ESTATECORRUPT'
/** The local trust override (`gtfs trust set`) is not met. */
export const ELOCALTRUST = 'ELOCALTRUST'

export const malformed = (what: string, why: string): ProtocolError =>
  new ProtocolError(EMALFORMED, `${what}: ${why}`)

export const tooLarge = (what: string, size: number, cap: number): ProtocolError =>
  new ProtocolError(ETOOLARGE, `${what} is ${size} bytes, over the ${cap}-byte cap`)

export const untrusted = (code: string, message: string, hint?: string): UntrustedError =>
  new UntrustedError(code, message, hint === undefined ? {} : { hint })

export const corrupt = (what: string, why: string, cause?: unknown): IntegrityError =>
  new IntegrityError(`${what} is corrupt: ${why}`, {
    code: ESTATECORRUPT,
    cause,
    hint: 'gtfs refuses to reset it silently (that would allow a rollback); inspect or remove the file by hand'
  })
