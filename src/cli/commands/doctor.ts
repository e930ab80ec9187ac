/**
 * gtfs doctor: checks what mounting needs on this machine and says how to fix each gap.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { fuseChecks } from '../../fs/preflight.ts'
import { EXIT, printJson } from '../output.ts'

export const doctorCommand: CommandModule<object, { json?: boolean }> = {
  command: 'doctor',
  describe: 'check the FUSE prerequisites and say how to fix each',
  builder: (y: Argv) => y
    .example('gtfs doctor', 'check /dev/fuse, fusermount, libfuse2 and the kernel module')
    .example('gtfs doctor --json', 'the same as data') as unknown as Argv<{ json?: boolean }>,
  handler: async (argv: ArgumentsCamelCase<{ json?: boolean }>) => {
    const checks = await fuseChecks()
    const ok = checks.every(c => c.ok)
    if (argv.json) {
      printJson({ ok, checks })
    } else {
      for (const c of checks) {
        process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.detail}\n`)
        if (!c.ok && c.fix !== undefined) process.stdout.write(`      fix: ${c.fix}\n`)
      }
      process.stdout.write(ok ? 'gtfs can mount on this machine\n' : 'gtfs cannot mount until the failures above are fixed\n')
    }
    if (!ok) process.exitCode = EXIT.failure
  }
}
