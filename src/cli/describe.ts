/** How the trust commands describe signing progress to a person. */
import type { Progress } from '../publish/signing.ts'

/** "  rule refs/heads/* (refs/heads/main): 1 of 2 — signed: A; can sign: B" per requirement. */
export function progressLines (progress: Progress[] | null): string[] {
  if (progress === null) return []
  return progress.map(p => {
    const others = p.signers.filter(s => !p.signed.includes(s))
    return `  ${p.met ? 'ok  ' : 'NEED'} ${p.what}: ${p.signed.length} of ${p.threshold}` +
      (p.signed.length > 0 ? `; signed: ${p.signed.join(', ')}` : '') +
      (!p.met && others.length > 0 ? `; can sign: ${others.join(', ')}` : '')
  })
}

export function print (lines: string[]): void {
  if (lines.length > 0) process.stdout.write(lines.join('\n') + '\n')
}
