/** Long-running helper processes in tests: started, read until ready, always ended. */
import { spawn, type ChildProcess } from 'node:child_process'

export interface Running { child: ChildProcess, ready: Record<string, unknown>, stop: () => Promise<void> }

/** Starts a process that prints one JSON line when ready; its stdin stays open until stop(). */
export async function startJsonProcess (cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<Running> {
  const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stderr?.on('data', (c: Buffer) => { err += c.toString() })
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${args.join(' ')}: not ready in ${timeoutMs} ms: ${err}`)) }, timeoutMs)
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString()
      // One JSON object, on one line or pretty-printed over several.
      const start = out.indexOf('{')
      const end = out.indexOf('}\n', start)
      if (start < 0 || end < 0) return
      try {
        const value = JSON.parse(out.slice(start, end + 1)) as Record<string, unknown>
        clearTimeout(timer)
        resolve(value)
      } catch {}
    })
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`${args.join(' ')} exited ${code}: ${err}`)) })
  })
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>(resolve => child.once('exit', () => { resolve() }))
    child.stdin?.end()
    child.kill('SIGTERM')
    const t = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(t)
  }
  return { child, ready, stop }
}
