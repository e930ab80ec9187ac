/**
 * Running stock git from the publishing side: async execFile only (never a
 * synchronous child process), output captured, a deadline, and git's own
 * message in the error.
 */
import { execFile } from 'node:child_process'
import { EnvironmentError } from '../errors.ts'

export interface GitRunOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** milliseconds; default 10 minutes (adding a large root filesystem takes a while) */
  timeoutMs?: number
  input?: string
}

/** Runs `git args...`; resolves with stdout, rejects with EGIT and git's stderr. */
export async function runGit (args: string[], opts: GitRunOptions = {}): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = execFile('git', args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env, GIT_TERMINAL_PROMPT: '0' },
      timeout: opts.timeoutMs ?? 600_000,
      maxBuffer: 64 * 2 ** 20
    }, (err, stdout, stderr) => {
      if (err === null) { resolve(stdout); return }
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new EnvironmentError('ENOGIT', 'git is not installed', { hint: 'apt-get install git (scripts/setup.sh does it)' }))
        return
      }
      const first = String(stderr).trim().split('\n').find(l => l.trim() !== '') ?? err.message
      reject(new EnvironmentError('EGIT', `git ${args[0] === '--git-dir' ? args.slice(2, 4).join(' ') : args[0]} failed: ${first}`, { cause: err }))
    })
    if (opts.input !== undefined) child.stdin?.end(opts.input)
  })
}
