/**
 * Signer sets and ref rules as the command line writes them:
 *
 *   --signer <fpr> ... --threshold m             the roots
 *   --rule 'refs/tags/*=<fprA>,<fprB>:2'         a rule: pattern = signers [: m] [: rewrite]
 *
 * m may be left out only when one signer is named: with several, the user
 * must say how many have to sign (no silent 1-of-n or n-of-n default).
 */
import { UsageError } from '../errors.ts'
import { isValidPattern, normalizeFingerprint, type RefRule, type SignerSet } from '../trust/index.ts'

export function signerSet (signers: readonly string[], threshold: number | undefined, what = 'roots'): SignerSet {
  if (signers.length === 0) throw new UsageError('EUSAGE', `name at least one signer for the ${what} (--signer <fingerprint>)`)
  const fprs = [...new Set(signers.map(s => normalizeFingerprint(s)))]
  if (threshold === undefined) {
    if (fprs.length > 1) throw new UsageError('EUSAGE', `say how many of the ${fprs.length} ${what} signers must sign (--threshold m)`)
    threshold = 1
  }
  if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > fprs.length) {
    throw new UsageError('EUSAGE', `threshold ${threshold} for the ${what} must be between 1 and ${fprs.length}`)
  }
  return { signers: fprs, threshold }
}

export function parseRule (spec: string): RefRule {
  const eq = spec.indexOf('=')
  if (eq <= 0) throw badRule(spec, 'expected <pattern>=<fingerprint>[,<fingerprint>...][:m][:rewrite]')
  const pattern = spec.slice(0, eq)
  if (!isValidPattern(pattern)) throw badRule(spec, `"${pattern}" is not a ref name or a ref prefix ending in "/*"`)
  const parts = spec.slice(eq + 1).split(':')
  const signers = parts[0].split(',').filter(s => s !== '')
  let threshold: number | undefined
  let allowRewrite = false
  for (const p of parts.slice(1)) {
    if (p === 'rewrite') allowRewrite = true
    else if (/^[1-9][0-9]*$/.test(p) && threshold === undefined) threshold = Number(p)
    else throw badRule(spec, `unknown part "${p}"`)
  }
  const set = signerSet(signers, threshold, `rule ${pattern}`)
  return { pattern, ...set, ...(allowRewrite ? { allowRewrite: true } : {}) }
}

function badRule (spec: string, why: string): UsageError {
  return new UsageError('EUSAGE', `--rule ${JSON.stringify(spec)}: ${why}`, { hint: "e.g. --rule 'refs/tags/*=<fprA>,<fprB>:2'" })
}
