/**
 * Backing files for FUSE passthrough (Linux 6.9): an open answered with
 * FOPEN_PASSTHROUGH and a backing id has the kernel read that open straight
 * from a file on a local filesystem, with no request to this process and its
 * page cache shared with that file's. The id comes from an ioctl on the
 * session's /dev/fuse (FUSE_DEV_IOC_BACKING_OPEN, with an fd of the backing
 * file open) and is dropped with FUSE_DEV_IOC_BACKING_CLOSE; both need root.
 *
 * Node has no ioctl(2), and gtfs builds no native module of its own, so the
 * ioctls are made by a small perl process (perl-base is Essential in Debian:
 * every Debian machine has it) that holds the session's /dev/fuse as its fd 3
 * and takes one request per line on stdin: `open <path>` answers the id (or
 * -errno), `close <id>` answers 0 (or -errno). One per session, started at the
 * first open that could use it, ended with the session.
 *
 * Measured on this 2-core VM, the bench's 512 MiB file read with `cat`
 * (plain copy on ext4, 0.052-0.056 s warm, 0.14-0.15 s cold, read from ext4
 * itself): through passthrough 0.049-0.059 s warm and 0.16-0.17 s cold;
 * through this process's READ replies ~0.10 s warm and 0.65-0.88 s cold.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { logger } from '../log.ts'

const log = logger('gtfs:fs:backing-files')

/** _IOW(229, 1, struct fuse_backing_map), _IOW(229, 2, uint32_t) */
const BACKING_OPEN = 0x4010e501
const BACKING_CLOSE = 0x4004e502
/** a registrar that does not answer within this is not used again */
const ANSWER_MS = 2_000

const SCRIPT = `
use strict; $| = 1;
open(my $dev, '+<&=', 3) or die "fd 3: $!";
while (my $line = <STDIN>) {
  chomp $line;
  my ($op, $arg) = split(/ /, $line, 2);
  my $r;
  if ($op eq 'open') {
    if (open(my $f, '<', $arg)) {
      $r = ioctl($dev, ${BACKING_OPEN}, pack('LLQ', fileno($f), 0, 0));
      $r = defined $r ? $r + 0 : -($! + 0);
      close $f;
    } else { $r = -($! + 0) }
  } elsif ($op eq 'close') {
    $r = ioctl($dev, ${BACKING_CLOSE}, pack('L', $arg));
    $r = defined $r ? 0 : -($! + 0);
  } else { $r = -22 }
  print "$r\\n";
}
`

/** Registers backing files with one FUSE connection. */
export class BackingFiles {
  private child: ChildProcess | undefined
  private broken = false
  private readonly waiting: Array<(answer: number) => void> = []
  private buffered = ''

  constructor (private readonly devFd: number) {}

  /** False once the registrar failed: passthrough is not offered again. */
  get usable (): boolean { return !this.broken }

  /** A backing id for the file at `path`, or a negative errno (the open then goes through this process). */
  async open (path: string): Promise<number> {
    if (path.includes('\n') || !path.startsWith('/')) return -22
    return await this.ask(`open ${path}`)
  }

  /** Drops a backing id: the opens that use it keep their file. */
  async close (id: number): Promise<void> {
    const r = await this.ask(`close ${id}`)
    if (r < 0) log('closing backing id %d: errno %d', id, -r)
  }

  end (): void {
    this.broken = true
    this.child?.stdin?.end()
    this.child = undefined
    for (const w of this.waiting.splice(0)) w(-5)
  }

  private start (): ChildProcess {
    const child = spawn('perl', ['-e', SCRIPT], { stdio: ['pipe', 'pipe', 'inherit', this.devFd] })
    child.on('error', err => { log('perl for backing files: %s', err.message); this.fail() })
    child.on('exit', () => { if (this.child === child) this.fail() })
    child.stdin!.on('error', err => { log('perl for backing files: %s', err.message); this.fail() })
    child.stdout!.setEncoding('utf8')
    child.stdout!.on('data', (s: string) => {
      this.buffered += s
      let nl
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl)
        this.buffered = this.buffered.slice(nl + 1)
        this.waiting.shift()?.(Number.parseInt(line, 10))
      }
    })
    return child
  }

  private fail (): void {
    if (this.broken) return
    log('backing files unavailable: opens go through gtfs')
    this.end()
  }

  private async ask (line: string): Promise<number> {
    if (this.broken) return -5
    this.child ??= this.start()
    const child = this.child
    let timer: NodeJS.Timeout | undefined
    const answer = await new Promise<number>(resolve => {
      this.waiting.push(resolve)
      child.stdin!.write(line + '\n')
      // answers pair with requests in order: a late one would pair with the wrong request
      timer = setTimeout(() => { log('no answer from perl within %d ms', ANSWER_MS); this.fail() }, ANSWER_MS)
    })
    clearTimeout(timer)
    return Number.isNaN(answer) ? -5 : answer
  }
}
