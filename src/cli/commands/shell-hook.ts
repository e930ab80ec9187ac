/**
 * gtfs shell-hook bash|zsh: prints the shell function that runs a command the
 * shell does not find from the trusted repos, through the automount namespace.
 * The function names this very node and gtfs by absolute path, so that a
 * missing `gtfs` on PATH cannot make it call itself.
 */
import { fileURLToPath } from 'node:url'
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'

const BIN = fileURLToPath(new URL('../../../bin/gtfs', import.meta.url))

/** 'text' for a POSIX shell: single quotes, each ' written as '\'' */
function sq (text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`
}

export function shellHook (shell: 'bash' | 'zsh', node = process.execPath, bin = BIN): string {
  const find = `${sq(node)} ${sq(bin)} find-command --name="$1"`
  if (shell === 'bash') {
    return `# gtfs: commands this machine lacks run from the trusted repos (gtfs-shell-hook(1))
command_not_found_handle() {
  local gtfs_path
  if gtfs_path="$(${find})"; then
    # bash runs this function in a subshell: exec replaces it; argv[0] is the name typed.
    exec -a "$1" "$gtfs_path" "\${@:2}"
  fi
  printf 'bash: %s: command not found\\n' "$1" >&2
  return 127
}
`
  }
  return `# gtfs: commands this machine lacks run from the trusted repos (gtfs-shell-hook(1))
command_not_found_handler() {
  local gtfs_path
  if gtfs_path="$(${find})"; then
    # ARGV0 sets argv[0] of the command to the name typed.
    ARGV0="$1" "$gtfs_path" "\${@:2}"
    return $?
  fi
  print -u2 "zsh: command not found: $1"
  return 127
}
`
}

interface HookArgs { shell: 'bash' | 'zsh' }

export const shellHookCommand: CommandModule<object, HookArgs> = {
  command: 'shell-hook <shell>',
  describe: 'print a shell function that runs commands not found on this machine from the trusted repos',
  builder: (y: Argv) => y
    .positional('shell', { choices: ['bash', 'zsh'] as const, describe: 'the shell to hook', demandOption: true })
    .example('eval "$(gtfs shell-hook bash)"', 'in ~/.bashrc: a command bash does not find is looked up in the trusted repos and run from /gtfs')
    .example('eval "$(gtfs shell-hook zsh)"', 'the same in ~/.zshrc') as unknown as Argv<HookArgs>,
  handler: (argv: ArgumentsCamelCase<HookArgs>) => {
    process.stdout.write(shellHook(argv.shell))
  }
}
