/** Running commands from tests: async only, with a deadline, output captured. */
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const GTFS = join(ROOT, 'bin', 'gtfs')

export interface RunResult { code: number, stdout: string, stderr: string }

export async function run (cmd: string, args: string[], opts: { cwd?: string, env?: NodeJS.ProcessEnv, input?: Buffer | string, timeoutMs?: number, maxBuffer?: number, encoding?: 'buffer' } = {}): Promise<RunResult> {
  return await new Promise((resolve, reject) => {
    const child = execFile(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: opts.maxBuffer ?? 256 * 2 ** 20
    }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1
      if (err !== null && code === -1 && (err as { killed?: boolean }).killed) { reject(new Error(`${cmd} ${args.join(' ')} timed out`)); return }
      resolve({ code, stdout: String(stdout), stderr: String(stderr) })
    })
    if (opts.input !== undefined) child.stdin?.end(opts.input)
  })
}

/** Runs and fails the test when the command fails. */
export async function must (cmd: string, args: string[], opts: Parameters<typeof run>[2] = {}): Promise<string> {
  const r = await run(cmd, args, opts)
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return r.stdout
}

export async function git (dir: string, ...args: string[]): Promise<string> {
  return await must('git', ['-C', dir, '-c', 'user.name=T', '-c', 'user.email=t@e', '-c', 'init.defaultBranch=main', ...args])
}

/** Raw bytes of a command's stdout. */
export async function runBuffer (cmd: string, args: string[], timeoutMs = 120_000): Promise<Buffer> {
  return await new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const chunks: Buffer[] = []
    let err = ''
    const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
    child.stdout.on('data', (c: Buffer) => chunks.push(c))
    child.stderr.on('data', (c: Buffer) => { err += c.toString() })
    child.on('close', code => {
      clearTimeout(timer)
      if (code === 0) resolve(Buffer.concat(chunks))
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`))
    })
  })
}

export async function tempDir (prefix: string): Promise<{ path: string, remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `gtfs-test-${prefix}-`))
  return { path, remove: async () => { await rm(path, { recursive: true, force: true }) } }
}

/** Polls `ok` every `everyMs` until it holds; fails naming `what` after `ms`. */
export async function waitUntil (what: string, ok: () => boolean | Promise<boolean>, ms = 10_000, everyMs = 5): Promise<void> {
  for (const end = Date.now() + ms; !(await ok());) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}
