/**
 * Extended attributes of a whole directory tree, read with one asynchronous
 * `getfattr` run (Debian package `attr`; scripts/setup.sh installs it). Node
 * has no xattr API, and one recursive run costs one process for the whole
 * tree instead of one per file.
 *
 *   getfattr --recursive --physical --no-dereference --dump --match=- --encoding=base64
 *
 * `--match=-` lists every namespace (user, security such as
 * security.capability, trusted when run as root, system ACLs). getfattr
 * escapes bytes of file and attribute names as backslash-octal (`\012`,
 * `\134`); values come as `0s<base64>`.
 */
import { execFile } from 'node:child_process'
import { EnvironmentError } from '../errors.ts'

/** path relative to the root ("" for the root itself, "a/b") → xattr name → base64 value */
export type XattrDump = Map<string, Map<string, string>>

/** bytes of getfattr output a tree may produce */
const MAX_OUTPUT = 1024 * 2 ** 20

export async function readXattrs (root: string): Promise<XattrDump> {
  const out = await new Promise<Buffer>((resolve, reject) => {
    execFile('getfattr', ['--recursive', '--physical', '--no-dereference', '--dump', '--match=-', '--encoding=base64', '.'],
      { cwd: root, encoding: 'buffer', maxBuffer: MAX_OUTPUT, timeout: 600_000 },
      (err, stdout, stderr) => {
        if (err === null) { resolve(stdout); return }
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(new EnvironmentError('ENOGETFATTR', 'getfattr is not installed; gtfs needs it to capture extended attributes',
            { hint: 'apt-get install attr (scripts/setup.sh does it)' }))
          return
        }
        const first = stderr.toString('utf8').trim().split('\n')[0] ?? err.message
        reject(new EnvironmentError('EXATTR', `cannot read extended attributes below ${root}: ${first}`, { cause: err }))
      })
  })
  return parseGetfattr(out)
}

/** Parses `getfattr --dump --encoding=base64` output run on ".". Exported for tests. */
export function parseGetfattr (out: Buffer): XattrDump {
  const dump: XattrDump = new Map()
  let current: Map<string, string> | null = null
  for (const raw of splitLines(out)) {
    if (raw.length === 0) { current = null; continue }
    const line = raw.toString('latin1')
    if (line.startsWith('# file: ')) {
      let path = unescape(raw.subarray(8))
      if (path === '.') path = ''
      else if (path.startsWith('./')) path = path.slice(2)
      current = new Map()
      dump.set(path, current)
      continue
    }
    if (current === null) throw new EnvironmentError('EXATTR', `unexpected getfattr output: ${JSON.stringify(line.slice(0, 80))}`)
    const eq = raw.indexOf(0x3d) // '='
    const name = unescape(eq < 0 ? raw : raw.subarray(0, eq))
    const value = eq < 0 ? '' : line.slice(eq + 1)
    if (value !== '' && !value.startsWith('0s')) throw new EnvironmentError('EXATTR', `getfattr printed ${name} in an encoding other than base64`)
    current.set(name, value.slice(2))
  }
  return dump
}

function splitLines (buf: Buffer): Buffer[] {
  const lines: Buffer[] = []
  let start = 0
  for (let i = buf.indexOf(0x0a); i >= 0; i = buf.indexOf(0x0a, start)) {
    lines.push(buf.subarray(start, i))
    start = i + 1
  }
  if (start < buf.length) lines.push(buf.subarray(start))
  return lines
}

/** getfattr's quoting: `\ooo` stands for one byte; the bytes are UTF-8. */
function unescape (raw: Buffer): string {
  const bytes: number[] = []
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]
    if (c === 0x5c && i + 3 < raw.length && /^[0-7]{3}$/.test(raw.toString('latin1', i + 1, i + 4))) {
      bytes.push(parseInt(raw.toString('latin1', i + 1, i + 4), 8))
      i += 3
    } else {
      bytes.push(c)
    }
  }
  return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes))
}
