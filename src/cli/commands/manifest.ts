/**
 * gtfs manifest export | import: carry a repo's documents (policy chain,
 * pending policy, manifests with their signatures, catalogs, signer public
 * keys) to another machine in one file, e.g. to collect signatures.
 */
import { writeFile } from 'node:fs/promises'
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { paths } from '../../config.ts'
import { UsageError } from '../../errors.ts'
import { progressLines } from '../describe.ts'
import { printJson } from '../output.ts'

interface ExportArgs { repo: string, output?: string }
const exportCmd: CommandModule<object, ExportArgs> = {
  command: 'export <repo>',
  describe: 'write a repo\'s policy, manifests, signatures and catalogs to one file',
  builder: (y: Argv) => y
    .positional('repo', { type: 'string', describe: 'repo key', demandOption: true })
    .option('output', { alias: 'o', type: 'string', describe: 'file to write (default: standard output)' })
    .example('gtfs manifest export $REPO -o pending.gtfs', 'carry a pending manifest to a co-signer') as unknown as Argv<ExportArgs>,
  handler: async (argv: ArgumentsCamelCase<ExportArgs>) => {
    const { checkRepoKey, withSession } = await import('../../publish/session.ts')
    const { exportBundle } = await import('../../publish/exchange.ts')
    const bytes = await withSession(paths().data, async s => await exportBundle(s, checkRepoKey(argv.repo)))
    if (argv.output !== undefined) await writeFile(argv.output, bytes)
    else process.stdout.write(bytes)
  }
}

interface ImportArgs { file: string, json?: boolean }
const importCmd: CommandModule<object, ImportArgs> = {
  command: 'import <file>',
  describe: 'merge a file written by gtfs manifest export into this machine\'s records',
  builder: (y: Argv) => y
    .positional('file', { type: 'string', describe: 'the exported file', demandOption: true })
    .example('gtfs manifest import pending.gtfs && gtfs sign $REPO', 'add your signature to what a co-signer sent') as unknown as Argv<ImportArgs>,
  handler: async (argv: ArgumentsCamelCase<ImportArgs>) => {
    const { MAX_BUNDLE_BYTES } = await import('../../publish/bundle.ts')
    const { readFileCapped } = await import('../../trust/index.ts')
    const { withSession } = await import('../../publish/session.ts')
    const { importBundle } = await import('../../publish/exchange.ts')
    const bytes = await readFileCapped(argv.file, MAX_BUNDLE_BYTES, argv.file)
    if (bytes === null) throw new UsageError('EUSAGE', `${argv.file} does not exist`)
    const r = await withSession(paths().data, async s => await importBundle(s, bytes))
    if (argv.json) { printJson(r); return }
    process.stdout.write(`imported ${r.repo}: policy version ${r.policyVersion}, manifest seq ${r.seq ?? 'none'}\n`)
    if (r.promotedPolicy !== undefined) process.stdout.write(`  policy version ${r.promotedPolicy} is now complete\n`)
    if (r.promotedManifest !== undefined) process.stdout.write(`  manifest seq ${r.promotedManifest} is now complete\n`)
    if (r.policy !== null) process.stdout.write(`  pending policy:\n${progressLines(r.policy).join('\n')}\n`)
    if (r.manifest !== null) process.stdout.write(`  pending manifest:\n${progressLines(r.manifest).join('\n')}\n`)
  }
}

export const manifestCommand: CommandModule = {
  command: 'manifest <command>',
  describe: 'carry manifests and policies between machines',
  builder: (y: Argv) => y.command(exportCmd).command(importCmd).demandCommand(1, 'name a manifest command: export or import')
    .example('gtfs manifest export $REPO -o a.gtfs', 'write everything a co-signer needs'),
  handler: () => {}
}
