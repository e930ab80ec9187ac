/**
 * `gtfs mount <key> <dir>`, run by bin/gtfs without the CLI. Loading yargs
 * and every command module took the CLI ~0.2 s, and a mount that starts its
 * daemon waited for it: the daemon was listening ~0.1 s before the CLI's
 * request came. Only the plain form takes this path: a repo key and a
 * directory, with flags that need no parser's judgment (the switches below,
 * and --ref, --bootstrap and --port with one value each, none repeated).
 * Anything else, --help and --debug included, goes to the CLI, which parses
 * it as before. The mount itself is the CLI's own (commands/mount.ts
 * mountRepoKey), and so are its output and its errors (output.ts).
 */
import { EXIT, printError } from './output.ts'

/** switches: flag → field */
const SWITCHES = new Map<string, 'json' | 'pin' | 'allowExpired' | 'allowOther'>([['--json', 'json'], ['--pin', 'pin'], ['--allow-expired', 'allowExpired'], ['--allow-other', 'allowOther']])
/** flags with one value: flag → field */
const VALUED = new Map<string, 'ref' | 'bootstrap' | 'port'>([['--ref', 'ref'], ['--bootstrap', 'bootstrap'], ['--port', 'port']])

export interface PlainMount {
  key: string
  dir: string
  ref?: string
  bootstrap?: string
  port?: number
  json: boolean
  pin: boolean
  allowExpired: boolean
  allowOther: boolean
}

/** `mount <key> <dir>` with only such flags, parsed; null for anything else. */
export function plainMount (argv: string[]): PlainMount | null {
  if (argv[0] !== 'mount') return null
  const out: Omit<PlainMount, 'key' | 'dir'> = { json: false, pin: false, allowExpired: false, allowOther: false }
  const seen = new Set<string>()
  const positional: string[] = []
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]
    const eq = a.indexOf('=')
    const flag = eq > 0 ? a.slice(0, eq) : a
    const sw = SWITCHES.get(a)
    const valued = VALUED.get(flag)
    if (sw !== undefined || valued !== undefined) {
      if (seen.has(flag)) return null
      seen.add(flag)
    }
    if (sw !== undefined) {
      out[sw] = true
    } else if (valued !== undefined) {
      const value = eq > 0 ? a.slice(eq + 1) : argv[++i]
      if (value === undefined || (eq < 0 && value.startsWith('-'))) return null
      if (valued === 'port') {
        if (!/^[0-9]{1,5}$/.test(value)) return null
        out.port = Number(value)
      } else {
        out[valued] = value
      }
    } else if (a.startsWith('-')) {
      return null
    } else {
      positional.push(a)
    }
  }
  return positional.length === 2 ? { key: positional[0], dir: positional[1], ...out } : null
}

/**
 * Loads (evaluates) what mountPlain runs without running it: the build runs
 * it before it writes the bundle's code cache (scripts/bundle.mjs).
 */
export async function preloadMount (): Promise<void> {
  await import('./commands/mount.ts')
}

/**
 * Runs the plain form of `gtfs mount <key> <dir>` and returns its exit
 * status, or null when `argv` is not that form (the CLI runs it then).
 */
export async function mountPlain (argv: string[]): Promise<number | null> {
  const m = plainMount(argv)
  if (m === null) return null
  try {
    const { mountRepoKey } = await import('./commands/mount.ts')
    await mountRepoKey({ ...m, suid: false, dev: false })
    return EXIT.ok
  } catch (err) {
    return printError(err, process.env.GTFS_DEBUG === '1', m.json)
  }
}
