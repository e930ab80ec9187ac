/**
 * gtfs sign: add this machine's signatures to a repo's pending policy and
 * pending manifest.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { paths } from '../../config.ts'
import { progressLines } from '../describe.ts'
import { printJson } from '../output.ts'
import { passphraseSource } from '../passphrase.ts'

interface SignArgs { repo: string, 'passphrase-file'?: string, json?: boolean }

export const signCommand: CommandModule<object, SignArgs> = {
  command: 'sign <repo>',
  describe: 'sign what is pending for a repo with the keys of this machine',
  builder: (y: Argv) => y
    .positional('repo', { type: 'string', describe: 'repo key', demandOption: true })
    .option('passphrase-file', { type: 'string', describe: 'passphrase for protected secret keys (else asked on the terminal)' })
    .example('gtfs manifest import seq7.gtfs && gtfs sign $REPO && gtfs manifest export $REPO -o seq7.gtfs', 'co-sign and send it back') as unknown as Argv<SignArgs>,
  handler: async (argv: ArgumentsCamelCase<SignArgs>) => {
    const { parseManifest } = await import('../../trust/index.ts')
    const { checkRepoKey, withSession } = await import('../../publish/session.ts')
    const { signPending } = await import('../../publish/sign-pending.ts')
    const r = await withSession(paths().data, async s => {
      const result = await signPending(s, checkRepoKey(argv.repo), passphraseSource(argv.passphraseFile))
      const records = await s.records(result.repo)
      return { ...result, refs: records.manifest === null ? null : parseManifest(records.manifest.bytes).refs }
    })
    if (argv.json) { printJson(r); return }
    if (r.signedPolicy.length > 0) process.stdout.write(`signed policy version ${r.policyVersion} as ${r.signedPolicy.join(', ')}\n`)
    if (r.signedManifest.length > 0) process.stdout.write(`signed manifest seq ${r.manifestSeq} as ${r.signedManifest.join(', ')}\n`)
    if (r.promotedPolicy !== undefined) process.stdout.write(`policy version ${r.promotedPolicy} is complete\n`)
    if (r.promotedManifest !== undefined) process.stdout.write(`manifest seq ${r.promotedManifest} is complete\n`)
    if (r.policy !== null) process.stdout.write(`pending policy:\n${progressLines(r.policy).join('\n')}\n`)
    if (r.manifest !== null) process.stdout.write(`pending manifest:\n${progressLines(r.manifest).join('\n')}\n`)
  }
}
