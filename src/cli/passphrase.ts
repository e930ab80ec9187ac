/**
 * Passphrases for protected secret keys: from `--passphrase-file` (its first
 * line), else asked on the terminal without echo, else none (the caller then
 * fails with EPASSPHRASE and says how to give one). Never from an argument or
 * an environment variable: both leak into process listings and logs.
 */
import { readFile } from 'node:fs/promises'
import { UsageError } from '../errors.ts'
import type { PassphraseSource } from '../publish/signing.ts'
import type { KeyInfo } from '../trust/index.ts'

export function passphraseSource (file: string | undefined): PassphraseSource {
  let fromFile: Promise<string> | undefined
  return async (key: KeyInfo) => {
    if (file !== undefined) {
      fromFile ??= readPassphraseFile(file)
      return await fromFile
    }
    if (process.stdin.isTTY !== true || process.stderr.isTTY !== true) return undefined
    return await askHidden(`passphrase for ${key.fingerprint}${key.userIDs[0] === undefined ? '' : ` (${key.userIDs[0]})`}: `)
  }
}

export async function readPassphraseFile (file: string): Promise<string> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new UsageError('EUSAGE', `cannot read --passphrase-file ${file}: ${(err as Error).message}`)
  }
  return text.split(/\r?\n/)[0]
}

/** Reads one line from the terminal with echo off; Ctrl-C or Ctrl-D aborts. */
export async function askHidden (prompt: string): Promise<string> {
  const stdin = process.stdin
  process.stderr.write(prompt)
  stdin.setRawMode(true)
  stdin.resume()
  try {
    return await new Promise<string>((resolve, reject) => {
      let text = ''
      const onData = (chunk: Buffer): void => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n') { done(); resolve(text); return }
          if (ch === '\u0003' || ch === '\u0004') { done(); reject(new UsageError('EUSAGE', 'passphrase entry cancelled')); return }
          if (ch === '\u007f' || ch === '\b') text = [...text].slice(0, -1).join('')
          else text += ch
        }
      }
      const done = (): void => { stdin.off('data', onData); process.stderr.write('\n') }
      stdin.on('data', onData)
    })
  } finally {
    stdin.setRawMode(false)
    stdin.pause()
  }
}
