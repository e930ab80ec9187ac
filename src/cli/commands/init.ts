/**
 * gtfs init: a new signed repo for a git repository — the genesis policy
 * (whose hash is the repo key), signed by the root signers whose keys are here.
 */
import { realpath } from 'node:fs/promises'
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { paths } from '../../config.ts'
import { progressLines } from '../describe.ts'
import { printJson } from '../output.ts'
import { passphraseSource } from '../passphrase.ts'

interface InitArgs { 'git-dir': string, signer?: string[], threshold?: number, rule?: string[], 'passphrase-file'?: string, json?: boolean }

export const initCommand: CommandModule<object, InitArgs> = {
  command: 'init <git-dir>',
  describe: 'make a signed repo of a git repository: write and sign its genesis policy, print its repo key',
  builder: (y: Argv) => y
    .positional('git-dir', { type: 'string', describe: 'the git repository gtfs publish will publish from', demandOption: true })
    .option('signer', { type: 'string', array: true, describe: 'fingerprint of a root signer (repeat); roots sign policy updates and refs no rule names' })
    .option('threshold', { type: 'number', describe: 'how many root signers must sign (required with several)' })
    .option('rule', { type: 'string', array: true, describe: "a ref rule: 'refs/tags/*=<fprA>,<fprB>:2' (add :rewrite to allow non-fast-forward moves)" })
    .option('passphrase-file', { type: 'string', describe: 'passphrase for protected secret keys (else asked on the terminal)' })
    .example('gtfs init ~/src/distro --signer $ADA', 'one signer: prints the repo key')
    .example("gtfs init . --signer $ADA --signer $BOB --threshold 1 --rule 'refs/tags/*=$ADA,$BOB:2'", 'either root signs branches; tags need both') as unknown as Argv<InitArgs>,
  handler: async (argv: ArgumentsCamelCase<InitArgs>) => {
    const { findGitDir } = await import('../../store/git-dir.ts')
    const { parseRule, signerSet } = await import('../../publish/rule-spec.ts')
    const { withSession } = await import('../../publish/session.ts')
    const { initRepo } = await import('../../publish/init-repo.ts')
    const gitDir = await realpath(await findGitDir(argv.gitDir))
    const roots = signerSet(argv.signer ?? [], argv.threshold)
    const rules = (argv.rule ?? []).map(parseRule)
    const r = await withSession(paths().data, async s => await initRepo(s, { gitDir, roots, rules, passphrase: passphraseSource(argv.passphraseFile) }))
    if (argv.json) { printJson(r); return }
    process.stdout.write(`${r.repo}\n`)
    if (!r.complete) {
      process.stderr.write(`the genesis policy needs more root signatures before anything can be published:\n${progressLines(r.progress).join('\n')}\n` +
        `  carry it to the other signers: gtfs manifest export ${r.repo} -o ${r.repo.slice(0, 12)}.gtfs; there: gtfs manifest import, gtfs sign ${r.repo}\n`)
    }
  }
}
