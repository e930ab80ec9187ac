/**
 * gtfs policy update: the next version of a repo's policy. It takes effect
 * when a threshold of the previous roots and of the new roots signed it.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { paths } from '../../config.ts'
import { UsageError } from '../../errors.ts'
import { progressLines } from '../describe.ts'
import { printJson } from '../output.ts'
import { passphraseSource } from '../passphrase.ts'

interface UpdateArgs { repo: string, signer?: string[], threshold?: number, rule?: string[], 'clear-rules'?: boolean, 'passphrase-file'?: string, json?: boolean }

const update: CommandModule<object, UpdateArgs> = {
  command: 'update <repo>',
  describe: 'make the next policy version (fields not given are kept); old and new roots must sign it',
  builder: (y: Argv) => y
    .positional('repo', { type: 'string', describe: 'repo key', demandOption: true })
    .option('signer', { type: 'string', array: true, describe: 'the new root signers (repeat); replaces the roots' })
    .option('threshold', { type: 'number', describe: 'how many new root signers must sign' })
    .option('rule', { type: 'string', array: true, describe: "replaces all rules: 'refs/tags/*=<fprA>,<fprB>:2[:rewrite]' (repeat)" })
    .option('clear-rules', { type: 'boolean', describe: 'drop every rule (the roots then govern every ref)' })
    .option('passphrase-file', { type: 'string', describe: 'passphrase for protected secret keys (else asked on the terminal)' })
    .conflicts('rule', 'clear-rules')
    .example('gtfs policy update $REPO --signer $ADA --signer $CAROL --threshold 2', 'rotate the roots: the old roots and both new ones sign') as unknown as Argv<UpdateArgs>,
  handler: async (argv: ArgumentsCamelCase<UpdateArgs>) => {
    if (argv.signer === undefined && argv.threshold !== undefined) throw new UsageError('EUSAGE', '--threshold goes with --signer: name the new roots too')
    const { parseRule, signerSet } = await import('../../publish/rule-spec.ts')
    const { checkRepoKey, withSession } = await import('../../publish/session.ts')
    const { updatePolicy } = await import('../../publish/policy-update.ts')
    const roots = argv.signer === undefined ? undefined : signerSet(argv.signer, argv.threshold)
    const rules = argv.clearRules === true ? [] : argv.rule?.map(parseRule)
    if (roots === undefined && rules === undefined) throw new UsageError('EUSAGE', 'nothing to change: give --signer/--threshold, --rule or --clear-rules')
    const r = await withSession(paths().data, async s => await updatePolicy(s, {
      repo: checkRepoKey(argv.repo), passphrase: passphraseSource(argv.passphraseFile),
      ...(roots === undefined ? {} : { roots }), ...(rules === undefined ? {} : { rules })
    }))
    if (argv.json) { printJson(r); return }
    process.stdout.write(`policy version ${r.version} of ${r.repo}: ${r.complete ? 'in effect' : 'pending'}${r.replacedPending ? ' (replaced an earlier pending update)' : ''}\n`)
    process.stdout.write(progressLines(r.progress).join('\n') + '\n')
    if (!r.complete) process.stdout.write(`  collect the missing signatures: gtfs manifest export ${r.repo} -o update.gtfs; there: gtfs manifest import update.gtfs && gtfs sign ${r.repo}\n`)
  }
}

export const policyCommand: CommandModule = {
  command: 'policy <command>',
  describe: 'change who may sign a repo',
  builder: (y: Argv) => y.command(update).demandCommand(1, 'name a policy command: update')
    .example('gtfs policy update $REPO --rule "refs/tags/*=$ADA,$BOB:2"', 'tags now need two signers'),
  handler: () => {}
}
