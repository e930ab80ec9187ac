/**
 * gtfs key generate | import | list | export: the signer keys of this machine
 * (src/trust/keyring.ts under `<data>/keys`, secret keys mode 0600).
 */
import { readFile, writeFile } from 'node:fs/promises'
import type { PrivateKey } from 'openpgp'
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { paths } from '../../config.ts'
import { UsageError, UntrustedError } from '../../errors.ts'
import type { Keyring, KeyInfo } from '../../trust/index.ts'
import { printJson } from '../output.ts'
import { passphraseSource, readPassphraseFile } from '../passphrase.ts'

async function keyring (): Promise<Keyring> {
  const { homeDirs, keyringOf } = await import('../../publish/home.ts')
  return keyringOf(homeDirs(paths().data))
}

function keyLine (k: KeyInfo): string {
  const algo = k.curve !== undefined ? `${k.algorithm}/${k.curve}` : k.bits !== undefined ? `${k.algorithm}/${k.bits}` : k.algorithm
  const flags = [k.hasSecret ? (k.secretProtected ? 'secret (passphrase)' : 'secret') : 'public', ...(k.revoked ? ['REVOKED'] : []),
    ...(k.expires !== null ? [`expires ${k.expires.toISOString().slice(0, 10)}`] : [])]
  return `${k.fingerprint}  ${algo}  ${flags.join(', ')}  ${k.userIDs.join('; ')}`
}

interface GenerateArgs { name?: string, email?: string, 'passphrase-file'?: string, json?: boolean }
const generate: CommandModule<object, GenerateArgs> = {
  command: 'generate',
  describe: 'make a new signer key (OpenPGP EdDSA ed25519, readable by GnuPG 2.2)',
  builder: (y: Argv) => y
    .option('name', { type: 'string', describe: 'name in the user ID' })
    .option('email', { type: 'string', describe: 'email in the user ID' })
    .option('passphrase-file', { type: 'string', describe: 'protect the secret key with the passphrase on this file\'s first line' })
    .example('gtfs key generate --name "Ada Release" --email ada@example.org', 'a new signer; prints its fingerprint') as unknown as Argv<GenerateArgs>,
  handler: async (argv: ArgumentsCamelCase<GenerateArgs>) => {
    if (argv.name === undefined && argv.email === undefined) throw new UsageError('EUSAGE', 'a key needs a --name or an --email')
    const passphrase = argv.passphraseFile === undefined ? undefined : await readPassphraseFile(argv.passphraseFile)
    const info = await (await keyring()).generate({
      ...(argv.name === undefined ? {} : { name: argv.name }),
      ...(argv.email === undefined ? {} : { email: argv.email }),
      ...(passphrase === undefined ? {} : { passphrase })
    })
    if (argv.json) printJson(info)
    else process.stdout.write(`${info.fingerprint}\n`)
  }
}

interface ImportArgs { file: string, 'passphrase-file'?: string, json?: boolean }
const importCmd: CommandModule<object, ImportArgs> = {
  command: 'import <file>',
  describe: 'import public or secret keys, armored or binary (gpg --export, --export-secret-keys); - reads stdin',
  builder: (y: Argv) => y
    .positional('file', { type: 'string', describe: 'key file, or - for standard input', demandOption: true })
    .option('passphrase-file', { type: 'string', describe: 'passphrase of a protected secret key (else asked on the terminal)' })
    .example('gpg --export-secret-keys ada@example.org | gtfs key import -', 'bring a GnuPG key; its passphrase is asked on the terminal')
    .example('gtfs key import bob.asc', 'a co-signer\'s public key') as unknown as Argv<ImportArgs>,
  handler: async (argv: ArgumentsCamelCase<ImportArgs>) => {
    const { describeKey, EPASSPHRASE, MAX_KEY_BYTES, readKeys, unlockPrivateKey } = await import('../../trust/index.ts')
    // yargs hands a lone "-" positional over as an empty string
    const data = argv.file === '-' || argv.file === '' ? await readStdin(MAX_KEY_BYTES) : await readFile(argv.file).catch((err: Error) => {
      throw new UsageError('EUSAGE', `cannot read ${argv.file}: ${err.message}`)
    })
    // A protected secret key is unlocked once here, so a wrong passphrase shows now, not at the first publish.
    const ask = passphraseSource(argv.passphraseFile)
    for (const key of await readKeys(data)) {
      if (!key.isPrivate() || key.isDecrypted()) continue
      const info = await describeKey(key)
      const pass = await ask(info)
      if (pass === undefined) {
        throw new UntrustedError(EPASSPHRASE, `secret key ${info.fingerprint} is protected by a passphrase, and there is no terminal to ask it on`,
          { hint: 'give it with --passphrase-file <file>' })
      }
      await unlockPrivateKey(key as PrivateKey, pass)
    }
    const infos = await (await keyring()).import(data)
    if (argv.json) printJson(infos)
    else for (const k of infos) process.stdout.write(`imported ${keyLine(k)}\n`)
  }
}

const list: CommandModule<object, { json?: boolean }> = {
  command: 'list',
  describe: 'list the keys of this machine',
  builder: (y: Argv) => y.example('gtfs key list --json', 'fingerprints, algorithms, expiry, secret or public') as unknown as Argv<{ json?: boolean }>,
  handler: async (argv: ArgumentsCamelCase<{ json?: boolean }>) => {
    const infos = await (await keyring()).list()
    if (argv.json) printJson(infos)
    else if (infos.length === 0) process.stdout.write('no keys; make one with `gtfs key generate --name <name>`\n')
    else for (const k of infos) process.stdout.write(`${keyLine(k)}\n`)
  }
}

interface ExportArgs { fingerprint: string, output?: string }
const exportCmd: CommandModule<object, ExportArgs> = {
  command: 'export <fingerprint>',
  describe: 'print a public key, armored (gpg --import reads it)',
  builder: (y: Argv) => y
    .positional('fingerprint', { type: 'string', describe: 'full fingerprint', demandOption: true })
    .option('output', { alias: 'o', type: 'string', describe: 'write to this file instead of standard output' })
    .example('gtfs key export 0123...CDEF -o ada.asc', 'give a co-signer your public key') as unknown as Argv<ExportArgs>,
  handler: async (argv: ArgumentsCamelCase<ExportArgs>) => {
    const armored = await (await keyring()).exportPublic(argv.fingerprint)
    if (argv.output !== undefined) await writeFile(argv.output, armored)
    else process.stdout.write(armored)
  }
}

export const keyCommand: CommandModule = {
  command: 'key <command>',
  describe: 'make, import, list and export signer keys',
  builder: (y: Argv) => y
    .command(generate).command(importCmd).command(list).command(exportCmd)
    .demandCommand(1, 'name a key command: generate, import, list or export')
    .example('gtfs key generate --name Ada', 'a new signer key'),
  handler: () => {}
}

async function readStdin (cap: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length
    if (size > cap) {
      const { tooLarge } = await import('../../trust/index.ts')
      throw tooLarge('key data', size, cap)
    }
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}
