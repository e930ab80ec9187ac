/**
 * A small root filesystem for catalog tests (run as root): a setuid and a
 * setgid file, a sticky directory, device nodes (mknod), a fifo, a hard link,
 * xattrs (user.test, and security.capability when setcap works), an empty
 * directory, a file owned by another user, a symlink, and a .gitattributes
 * that would rewrite line endings if git applied it.
 */
import { chmod, chown, link, mkdir, symlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { run, must } from './run.ts'

export const isRoot = process.getuid?.() === 0

export interface RootfsFixture {
  /** true when security.capability could be set (setcap present and the filesystem takes it) */
  caps: boolean
}

export async function makeRootfs (dir: string): Promise<RootfsFixture> {
  for (const d of ['bin', 'dev', 'empty', 'etc', 'tmp', 'home/u']) await mkdir(join(dir, d), { recursive: true })
  await writeFile(join(dir, 'bin', 'su'), 'setuid binary\r\n')
  await chmod(join(dir, 'bin', 'su'), 0o4755)
  await writeFile(join(dir, 'bin', 'wall'), 'setgid binary\n')
  await chmod(join(dir, 'bin', 'wall'), 0o2755)
  await chmod(join(dir, 'tmp'), 0o1777)
  await must('mknod', [join(dir, 'dev', 'null'), 'c', '1', '3'])
  await must('mknod', [join(dir, 'dev', 'sda'), 'b', '8', '0'])
  await chmod(join(dir, 'dev', 'null'), 0o666)
  await must('mkfifo', [join(dir, 'tmp', 'fifo')])
  await writeFile(join(dir, 'etc', 'a'), 'hard linked\n')
  await link(join(dir, 'etc', 'a'), join(dir, 'etc', 'b'))
  await must('setfattr', ['-n', 'user.test', '-v', 'hello', join(dir, 'etc', 'a')])
  await symlink('../etc/a', join(dir, 'bin', 'link'))
  await writeFile(join(dir, 'home', 'u', 'notes'), 'mine\n')
  await chown(join(dir, 'home', 'u'), 1000, 1000)
  await chown(join(dir, 'home', 'u', 'notes'), 1000, 1000)
  await writeFile(join(dir, '.gitattributes'), '* text eol=crlf\n')
  await utimes(join(dir, 'etc', 'a'), 1_600_000_000, 1_600_000_000)
  const caps = (await run('setcap', ['cap_net_raw+ep', join(dir, 'bin', 'su')])).code === 0
  // setcap clears setuid on some kernels' xattr paths; put the mode back either way.
  await chmod(join(dir, 'bin', 'su'), 0o4755)
  return { caps }
}
