/**
 * gtfs trust set | show: which signers this machine requires for a repo, on
 * top of its policy (the fork case: accept only the keys you choose).
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { paths } from '../../config.ts'
import { UsageError } from '../../errors.ts'
import { readdir } from 'node:fs/promises'
import { printJson } from '../output.ts'
import type { Session } from '../../publish/session.ts'

interface SetArgs { repo: string, signer?: string[], threshold?: number, clear?: boolean, json?: boolean }
const set: CommandModule<object, SetArgs> = {
  command: 'set <repo>',
  describe: 'accept a repo\'s manifests only when these signers (m of them) signed too',
  builder: (y: Argv) => y
    .positional('repo', { type: 'string', describe: 'repo key', demandOption: true })
    .option('signer', { type: 'string', array: true, describe: 'fingerprint of a signer you trust (repeat)' })
    .option('threshold', { type: 'number', describe: 'how many of them must sign (default 1 with one signer)' })
    .option('clear', { type: 'boolean', describe: 'remove the override: the policy alone decides' })
    .example('gtfs trust set $REPO --signer $CAROL --signer $DAVE --threshold 2', 'only accept manifests both Carol and Dave signed') as unknown as Argv<SetArgs>,
  handler: async (argv: ArgumentsCamelCase<SetArgs>) => {
    const { checkRepoKey } = await import('../../publish/session.ts')
    const { homeDirs } = await import('../../publish/home.ts')
    const { clearLocalTrust, makeLocalTrust, saveLocalTrust } = await import('../../trust/index.ts')
    const repo = checkRepoKey(argv.repo)
    const dir = homeDirs(paths().data).trust
    if (argv.clear === true) {
      if (argv.signer !== undefined) throw new UsageError('EUSAGE', '--clear takes no --signer')
      await clearLocalTrust(dir, repo)
      if (argv.json) printJson({ repo, localTrust: null })
      else process.stdout.write(`cleared the local trust override of ${repo}\n`)
      return
    }
    const signers = argv.signer ?? []
    if (signers.length === 0) throw new UsageError('EUSAGE', 'name the signers you trust with --signer <fingerprint>, or remove the override with --clear')
    if (argv.threshold === undefined && signers.length > 1) throw new UsageError('EUSAGE', `say how many of the ${signers.length} signers must sign (--threshold m)`)
    const trust = makeLocalTrust(signers, argv.threshold ?? 1)
    await saveLocalTrust(dir, repo, trust)
    if (argv.json) printJson({ repo, localTrust: trust })
    else process.stdout.write(`${repo}: accept only manifests signed by ${trust.threshold} of ${trust.signers.join(', ')} (and meeting the policy)\n`)
  }
}

async function describeRepo (s: Session, repo: string): Promise<Record<string, unknown>> {
  const { loadAcceptedState, loadLocalTrust, parseManifest, parsePolicy } = await import('../../trust/index.ts')
  const records = await s.records(repo).catch(() => null)
  const latest = records?.policy.at(-1)
  const policy = latest === undefined ? null : parsePolicy(latest.bytes)
  const manifest = records?.manifest === null || records?.manifest === undefined ? null : parseManifest(records.manifest.bytes)
  const accepted = await loadAcceptedState(s.home.state, repo)
  return {
    repo,
    localTrust: await loadLocalTrust(s.home.trust, repo),
    policy: policy === null ? null : { version: policy.version, roots: policy.roots, rules: policy.rules, pointerKey: policy.pointerKey },
    pendingPolicy: records?.pendingPolicy === null || records === null ? null : parsePolicy(records.pendingPolicy.bytes).version,
    manifest: manifest === null ? null : { seq: manifest.seq, expires: manifest.expires, refs: manifest.refs, defaultRef: manifest.defaultRef },
    pendingManifest: records?.pendingManifest === null || records === null ? null : parseManifest(records.pendingManifest.bytes).seq,
    accepted: accepted === null ? null : { seq: accepted.seq, policyVersion: accepted.policyVersion, manifestHash: accepted.manifestHash, refs: accepted.refs }
  }
}

interface ShowArgs { repo?: string, json?: boolean }
const show: CommandModule<object, ShowArgs> = {
  command: 'show [repo]',
  describe: 'show who a repo\'s policy and this machine trust, and what was accepted; without a repo, every repo known here',
  builder: (y: Argv) => y
    .positional('repo', { type: 'string', describe: 'repo key' })
    .example('gtfs trust show $REPO --json', 'policy roots and rules, local trust, accepted seq') as unknown as Argv<ShowArgs>,
  handler: async (argv: ArgumentsCamelCase<ShowArgs>) => {
    const { checkRepoKey, withSession } = await import('../../publish/session.ts')
    const { listRepos } = await import('../../publish/records.ts')
    const out = await withSession(paths().data, async s => {
      if (argv.repo !== undefined) return [await describeRepo(s, checkRepoKey(argv.repo))]
      const keys = new Set(await listRepos(s.home))
      for (const dir of [s.home.state, s.home.trust]) {
        for (const n of await readdir(dir).catch(() => [] as string[])) if (/^[0-9a-f]{64}\.json$/.test(n)) keys.add(n.slice(0, 64))
      }
      return await Promise.all([...keys].sort().map(async k => await describeRepo(s, k)))
    })
    if (argv.json) { printJson(argv.repo !== undefined ? out[0] : out); return }
    if (out.length === 0) process.stdout.write('no repos on this machine\n')
    for (const r of out) {
      const p = r.policy as { version: number, roots: { signers: string[], threshold: number }, rules: Array<{ pattern: string, signers: string[], threshold: number }> } | null
      const lt = r.localTrust as { signers: string[], threshold: number } | null
      const acc = r.accepted as { seq: number } | null
      process.stdout.write(`${String(r.repo)}\n`)
      process.stdout.write(p === null ? '  policy: none complete\n' : `  policy v${p.version}: roots ${p.roots.threshold} of ${p.roots.signers.join(', ')}\n`)
      for (const rule of p?.rules ?? []) process.stdout.write(`    ${rule.pattern}: ${rule.threshold} of ${rule.signers.join(', ')}\n`)
      process.stdout.write(`  local trust: ${lt === null ? 'none (the policy decides)' : `${lt.threshold} of ${lt.signers.join(', ')}`}\n`)
      process.stdout.write(`  accepted: ${acc === null ? 'nothing yet' : `seq ${acc.seq}`}` +
        `${r.pendingPolicy !== null ? `; pending policy v${String(r.pendingPolicy)}` : ''}${r.pendingManifest !== null ? `; pending manifest seq ${String(r.pendingManifest)}` : ''}\n`)
    }
  }
}

export const trustCommand: CommandModule = {
  command: 'trust <command>',
  describe: 'choose which signers this machine trusts for a repo',
  builder: (y: Argv) => y.command(set).command(show).demandCommand(1, 'name a trust command: set or show')
    .example('gtfs trust show', 'every repo known here'),
  handler: () => {}
}
