/**
 * Ref names and the policy rules that govern them.
 *
 * A rule's pattern is either an exact ref name (`refs/heads/main`) or a prefix
 * followed by `/*` (`refs/heads/*`, `refs/tags/*`, `refs/*`), which matches
 * every ref below that prefix, at any depth (as `*` in a git refspec does).
 * For a given ref the exact rule wins, then the longest matching prefix; when
 * nothing matches, the default rule applies: the policy's root signers and
 * root threshold, with no rewrites.
 */

export interface SignerSet {
  /** primary key fingerprints, uppercase */
  signers: string[]
  /** m of m-of-n: how many unique signers must sign */
  threshold: number
}

export interface RefRule extends SignerSet {
  pattern: string
  /** allows non-fast-forward moves and deletion of matching refs */
  allowRewrite?: boolean
}

export interface EffectiveRule extends SignerSet {
  /** the matching pattern, or null for the default (root) rule */
  pattern: string | null
  allowRewrite: boolean
}

const MAX_REF_LENGTH = 1024
// git check-ref-format: no ASCII control characters, space, ~ ^ : ? * [ \ or DEL
const FORBIDDEN_CHARS = /[\x00-\x20\x7f~^:?*[\\]/

/** True for a full ref name as git check-ref-format accepts it, under refs/. */
export function isValidRefName (ref: string): boolean {
  if (typeof ref !== 'string' || ref.length > MAX_REF_LENGTH) return false
  if (!ref.startsWith('refs/') || ref.endsWith('/') || ref.endsWith('.')) return false
  if (FORBIDDEN_CHARS.test(ref) || ref.includes('..') || ref.includes('@{')) return false
  return ref.split('/').every(part => part.length > 0 && !part.startsWith('.') && !part.endsWith('.lock'))
}

/** True for a valid rule pattern: an exact ref, or `refs/*` or `<ref prefix>/*`. */
export function isValidPattern (pattern: string): boolean {
  if (typeof pattern !== 'string') return false
  if (!pattern.endsWith('/*')) return isValidRefName(pattern)
  const prefix = pattern.slice(0, -2)
  return prefix === 'refs' || isValidRefName(prefix)
}

/** The rule that governs `ref` (see the module comment for precedence). */
export function ruleForRef (rules: readonly RefRule[], roots: SignerSet, ref: string): EffectiveRule {
  let best: RefRule | null = null
  let bestLength = -1
  for (const rule of rules) {
    if (rule.pattern === ref) {
      best = rule
      break
    }
    if (rule.pattern.endsWith('/*')) {
      const prefix = rule.pattern.slice(0, -1) // keeps the trailing '/'
      if (ref.startsWith(prefix) && prefix.length > bestLength) {
        best = rule
        bestLength = prefix.length
      }
    }
  }
  if (best === null) return { pattern: null, signers: roots.signers, threshold: roots.threshold, allowRewrite: false }
  return { pattern: best.pattern, signers: best.signers, threshold: best.threshold, allowRewrite: best.allowRewrite === true }
}
