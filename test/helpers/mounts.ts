/** Mounting through the real CLI in tests, and making sure nothing stays mounted. */
import { readFile } from 'node:fs/promises'
import { GTFS, run, type RunResult } from './run.ts'

export function gtfsEnv (home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, GTFS_HOME: home, GTFS_TEST: '1', ...extra }
}

export async function gtfs (home: string, args: string[], extra: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<RunResult> {
  return await run(process.execPath, [GTFS, ...args], { env: gtfsEnv(home, extra), timeoutMs })
}

/** The stable error code a failed `--json` command printed. */
export function errorCode (r: RunResult): string | undefined {
  const line = r.stderr.trim().split('\n').find(l => l.startsWith('{"error"'))
  return line === undefined ? undefined : (JSON.parse(line) as { error: { code: string } }).error.code
}

export async function isMountpoint (dir: string): Promise<boolean> {
  const text = await readFile('/proc/self/mountinfo', 'utf8')
  return text.split('\n').some(l => l.split(' ')[4] === dir.replace(/ /g, '\\040'))
}

/** Unmounts whatever a test left at `dir`: the CLI first, then fusermount -uz. */
export async function forceUnmount (home: string, dir: string): Promise<void> {
  if (!await isMountpoint(dir)) return
  await gtfs(home, ['umount', dir], {}, 30_000).catch(() => {})
  if (await isMountpoint(dir)) await run('fusermount', ['-uz', dir]).catch(() => {})
}

/**
 * Stops the daemon of `home`, if one runs. A daemon whose process outlives its
 * stop (ETIMEOUT) is killed, and the test fails: a leak every run would repeat.
 */
export async function stopDaemon (home: string): Promise<void> {
  const r = await gtfs(home, ['stop', '--json'], {}, 60_000).catch(() => null)
  if (r === null || r.code === 0 || errorCode(r) !== 'ETIMEOUT') return
  const pid = Number(/pid (\d+)/.exec(r.stderr)?.[1])
  if (pid > 0) try { process.kill(pid, 'SIGKILL') } catch {}
  throw new Error(`the daemon of ${home} did not exit when stopped: ${r.stderr.trim()}`)
}
