/**
 * gtfs verify: run the acceptance checks of a mount on a repo's newest
 * manifest (or a file from gtfs manifest export) and remember it as accepted.
 */
import { stat } from 'node:fs/promises'
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { paths } from '../../config.ts'
import { UsageError } from '../../errors.ts'
import { printJson } from '../output.ts'

interface VerifyArgs { target: string, json?: boolean }

export const verifyCommand: CommandModule<object, VerifyArgs> = {
  command: 'verify <target>',
  describe: 'check a repo\'s newest manifest as a mount would, and record it as accepted',
  builder: (y: Argv) => y
    .positional('target', { type: 'string', describe: 'a repo key, or a file written by gtfs manifest export', demandOption: true })
    .example('gtfs verify $REPO', 'policy chain, signatures and thresholds, seq, prev, expiry, fast-forward, catalogs')
    .example('gtfs verify pending.gtfs --json', 'check a file before importing it') as unknown as Argv<VerifyArgs>,
  handler: async (argv: ArgumentsCamelCase<VerifyArgs>) => {
    const { MAX_BUNDLE_BYTES } = await import('../../publish/bundle.ts')
    const { checkRepoKey, withSession } = await import('../../publish/session.ts')
    const { verifyBundleFile, verifyRepo } = await import('../../publish/verify-local.ts')
    const { readFileCapped } = await import('../../trust/index.ts')
    const isFile = (await stat(argv.target).catch(() => null))?.isFile() === true
    const r = await withSession(paths().data, async s => {
      if (isFile) {
        const bytes = await readFileCapped(argv.target, MAX_BUNDLE_BYTES, argv.target)
        if (bytes === null) throw new UsageError('EUSAGE', `${argv.target} does not exist`)
        return await verifyBundleFile(s, bytes)
      }
      return await verifyRepo(s, await s.records(checkRepoKey(argv.target)))
    })
    if (argv.json) { printJson({ accepted: true, ...r }); return }
    const m = r.manifest
    process.stdout.write(`accepted manifest seq ${r.seq} of ${r.repo}${r.unchanged ? ' (already accepted)' : ''}\n` +
      `  policy version ${r.policyVersion}${r.localTrust ? ', local trust met' : ''}; ${r.catalogs} catalog${r.catalogs === 1 ? '' : 's'} checked; expires ${new Date(m.expires * 1000).toISOString()}\n`)
    for (const [ref, e] of Object.entries(m.refs)) process.stdout.write(`  ${ref} ${e.commit}${ref === m.defaultRef ? ' (default)' : ''}\n`)
  }
}
