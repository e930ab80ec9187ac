/**
 * A FUSE session on /dev/fuse itself, without libfuse: the kernel's protocol
 * (fuse-kernel.ts) spoken by this process, for a root process on Linux 5.1 or
 * later (mount.ts decides). It serves the same FuseOps as fuse-native does
 * (fuse-ops.ts), path-based, over a table of the kernel's node ids.
 *
 * Why: what libfuse 2 cannot negotiate. Measured on this 2-core VM with a
 * trivial in-memory filesystem of the bench's wide tree (50,000 files in
 * 2,500 directories), `find -printf '%s %m %i'`, second pass:
 * - libfuse 2 (fuse-native): OPENDIR, two READDIRs and RELEASEDIR per
 *   directory reach the process every pass: 0.96 s against ext4's 0.18 s;
 * - here, with FUSE_NO_OPENDIR_SUPPORT the kernel opens directories alone and
 *   keeps their listings, so a second pass sends nothing: 0.18-0.20 s, ext4's
 *   own time (0.37-0.47 s when OPENDIR is answered with FOPEN_CACHE_DIR);
 * - READDIRPLUS hands every entry's attributes with the listing: the first
 *   pass makes no LOOKUP at all (1.3 s, against 8.9 s with 52,500 LOOKUPs).
 * Reads may be 1 MiB (max_pages 256; libfuse 2 stops at 128 KiB).
 *
 * Threads: the kernel hands requests to whoever reads /dev/fuse, and a read
 * blocks until one comes. That read runs on a worker thread of its own (the
 * libuv pool is shared with the store's disk reads: a blocked pool thread per
 * mount would starve them); the worker only reads and hands each request to
 * the main thread through a shared ring (request-ring.ts), which answers with
 * one write each. A write to /dev/fuse never blocks (it completes a waiting
 * request).
 *
 * Mounting: /dev/fuse is opened here and handed to mount(8) as its fd 3
 * (`-o fd=3`): the kernel ties the connection to the open file, which this
 * process holds. Unmounting is fusermount's (unmount.ts); the worker then
 * reads ENODEV and ends. A lazily detached mount still in use keeps its
 * connection: after a grace period the connection is aborted through fusectl.
 */
import { close, open, writeSync, writevSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { constants } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { FuseStat } from 'fuse-native'
import { EnvironmentError } from '../errors.ts'
import { logger } from '../log.ts'
import { BackingFiles } from './backing-files.ts'
import {
  cstring, direntSize, direntType, ENTRY_OUT, FOPEN_KEEP_CACHE, FOPEN_PASSTHROUGH, IN_HEADER, INIT, INIT2_PASSTHROUGH, NOTIFY_STORE_HEADER, OP, OP_NAMES, OUT_HEADER,
  putAttrOut, putDirent, putEntry, putInitOut, putNotifyStore, putOpenOut, putOutHeader, putStatfs, readHeader, u64, UNSUPPORTED_OPS, WRITE_OPS, type InHeader
} from './fuse-kernel.ts'
import type { GtfsFuseOps } from './fuse-ops.ts'
import { connectionOf, runMount, type MountFlags } from './dev-fuse-mount.ts'
import { childPath, NodeTable, type Node } from './dev-fuse-nodes.ts'
import { newRing, RingReader, WORKER_RING } from './request-ring.ts'
import { unmountDir } from './unmount.ts'

const log = logger('gtfs:fs:dev-fuse')
const E = constants.errno

export interface SessionOptions extends MountFlags {
  /** kernel cache lifetime of entries, attributes and misses, seconds */
  cacheSeconds: number
  /**
   * true: content never changes under a path (kernel_cache): pages kept across
   * opens, directories opened without a message and their listings kept.
   * false: a file's pages are kept only while its size and mtime stay (libfuse's
   * auto_cache), listings are asked for on every open.
   */
  keepCache: boolean
  /** every request on stderr, in libfuse's debug format */
  debug: boolean
  /** hand opens of files that have a plain local copy to the kernel (FUSE passthrough, Linux 6.9) */
  passthrough: boolean
}

export interface Session {
  unmount (): Promise<void>
}

/** Requests are small on a read-only mount (max_write 4096); the kernel asks for at least 8 KiB. */
const REQUEST_BYTES = 16 * 1024
const MAX_PAGES = 256
/** A detached mount still busy gets this long to end by itself before its connection is aborted. */
const END_GRACE_MS = 2_000
/**
 * A file opened with its whole content in memory, up to this many bytes, has
 * that content put in its page cache before the open is answered
 * (FUSE_NOTIFY_STORE), so that its reads need no READ (see open).
 */
export const STORE_MAX_BYTES = 256 * 1024
/** fuse_dirent.ino when the entry has no stat: libfuse's FUSE_UNKNOWN_INO (0 would hide it from readdir(3)) */
const UNKNOWN_INO = 0xffffffff
const DOT = Buffer.from('.')
const DOTDOT = Buffer.from('..')

/**
 * The worker: reads requests and hands them to the main thread through a
 * shared ring (request-ring.ts), except those
 * it answers itself with a fixed errno (workerData.fixed: op code -> -errno).
 * Those must not wait for the main thread: a child this process spawns with
 * its cwd in the mount (publish --trace) asks ACCESS in its chdir before its
 * exec, while the spawning main thread waits for that exec.
 */
const WORKER = `
const { parentPort } = require('node:worker_threads')
const { readSync, writeSync } = require('node:fs')
${WORKER_RING}
parentPort.once('message', ({ fd, size, fixed, ring }) => {
  const buf = Buffer.allocUnsafeSlow(size)
  const out = Buffer.alloc(16)
  for (;;) {
    let n
    try { n = readSync(fd, buf, 0, size, null) } catch (e) {
      // ENOENT: the request was interrupted before it was read
      if (e.code === 'ENOENT' || e.code === 'EINTR' || e.code === 'EAGAIN') continue
      parentPort.postMessage(String(e.code ?? e))
      break
    }
    const errno = fixed[buf.readUInt32LE(4)]
    if (errno !== undefined) {
      out.writeUInt32LE(16, 0); out.writeInt32LE(errno, 4); buf.copy(out, 8, 8, 16)
      try { writeSync(fd, out, 0, 16, null) } catch {}
      continue
    }
    ringPut(ring, buf, n)
  }
})
`

/**
 * Starting a worker takes ~40 ms (a V8 isolate and Node's bootstrap), more
 * than the whole rest of a mount (~5 ms of mount(8), one INIT). So a worker
 * starts ahead, idle until it is handed its /dev/fuse: at the start of
 * mountDevFuse (beside mount(8)), and earlier still where a mount is known to
 * come (prewarmDevFuse, which a swarm mount calls while its peers' state
 * travels). At most one waits; it keeps nothing alive.
 */
let spare: Worker | undefined

function startWorker (): Worker {
  const w = new Worker(WORKER, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 } })
  w.unref()
  // a spare that failed is not handed out
  const gone = (): void => { if (spare === w) spare = undefined }
  w.once('error', gone)
  w.once('exit', gone)
  return w
}

export function prewarmDevFuse (): void {
  spare ??= startWorker()
}

function takeWorker (): Worker {
  const w = spare ?? startWorker()
  spare = undefined
  return w
}

/**
 * Requests answered with a fixed errno, by the worker itself. ENOSYS tells the
 * kernel to do without the op from then on (UNSUPPORTED_OPS; OPENDIR where
 * listings are kept: the kernel then opens directories alone); the ops that
 * would write get EROFS (the `ro` mount has the kernel refuse them first).
 */
function fixedAnswers (keepCache: boolean): Record<number, number> {
  const fixed: Record<number, number> = {}
  for (const op of UNSUPPORTED_OPS) fixed[op] = -E.ENOSYS
  if (keepCache) fixed[OP.OPENDIR] = -E.ENOSYS
  for (const op of WRITE_OPS) fixed[op] = -E.EROFS
  return fixed
}

export async function mountDevFuse (dir: string, ops: GtfsFuseOps, o: SessionOptions): Promise<Session> {
  const worker = takeWorker()
  let fd: number
  try {
    fd = await new Promise<number>((resolve, reject) => { open('/dev/fuse', 'r+', (err, fd) => { err === null ? resolve(fd) : reject(err) }) })
  } catch (err) {
    await worker.terminate()
    throw err
  }
  let session: DevFuseSession | undefined
  try {
    await runMount(fd, dir, o)
    session = new DevFuseSession(worker, fd, dir, ops, o)
    await session.ready()
  } catch (err) {
    if (session !== undefined) await session.unmount().catch(() => {})
    else { close(fd, () => {}); await worker.terminate() }
    throw new EnvironmentError('EMOUNT', `could not mount ${dir}: ${(err as Error).message}`, { hint: '`gtfs doctor` checks the FUSE prerequisites', cause: err })
  }
  return session
}

class DevFuseSession implements Session {
  private readonly nodes = new NodeTable()
  private readonly out = Buffer.alloc(OUT_HEADER + 4096)
  private readonly storeHead = Buffer.alloc(NOTIFY_STORE_HEADER)
  private readonly ended: Promise<string>
  private readonly initDone: Promise<void>
  private initialized!: () => void
  private closed = false
  private unmounting: Promise<void> | undefined
  /** READ reply buffers of the largest size asked, reused */
  private readonly spare: Buffer[] = []
  /** backing files for passthrough opens, when INIT agreed to them */
  private backing: BackingFiles | undefined
  /** each open file (fh) that reached us: its node, and whether it reads through passthrough */
  private readonly opened = new Map<number, { node: Node, pass: boolean }>()

  constructor (private readonly worker: Worker, private readonly fd: number, private readonly dir: string, private readonly ops: GtfsFuseOps, private readonly o: SessionOptions) {
    this.initDone = new Promise(resolve => { this.initialized = resolve })
    const ring = newRing()
    const reader = new RingReader(ring, b => { this.request(b) }, err => { log('request: %s', (err as Error).stack ?? err) }, REQUEST_BYTES)
    this.ended = new Promise<string>(resolve => {
      // a number: requests are in the ring; a string: the session ended (after the requests before it)
      this.worker.on('message', (m: number | string) => {
        reader.drain()
        if (typeof m === 'string') resolve(m)
      })
      this.worker.on('error', err => { resolve((err as Error).message) })
      this.worker.on('exit', () => { resolve('exit') })
    }).then(why => {
      this.closed = true
      log('session at %s ended (%s)', dir, why)
      this.backing?.end()
      close(fd, () => {})
      return why
    })
    worker.postMessage({ fd, size: REQUEST_BYTES, fixed: fixedAnswers(o.keepCache), ring })
  }

  async ready (): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      this.initDone,
      this.ended.then(why => { throw new Error(`the kernel closed the session before INIT (${why})`) }),
      new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error('no INIT from the kernel within 10 s')) }, 10_000) })
    ]).finally(() => { clearTimeout(timer) })
  }

  async unmount (): Promise<void> {
    this.unmounting ??= (async () => {
      // named while it is still mounted, for the abort below
      const conn = this.closed ? undefined : await connectionOf(this.dir)
      if (!this.closed) await unmountDir(this.dir)
      let timer: NodeJS.Timeout | undefined
      const late = await Promise.race([
        this.ended.then(() => false),
        new Promise<boolean>(resolve => { timer = setTimeout(() => { resolve(true) }, END_GRACE_MS) })
      ])
      clearTimeout(timer)
      if (!late) return
      // Without fusectl (not mounted on every machine) the session lives on
      // until its last user lets go; the unmount itself is done.
      const aborted = conn !== undefined && await writeFile(`/sys/fs/fuse/connections/${conn}/abort`, '1').then(() => true, () => false)
      log('%s is detached but still in use: %s', this.dir, aborted ? `connection ${conn!} aborted` : 'it ends when its last user lets go')
      if (aborted) await this.ended
    })()
    await this.unmounting
  }

  // ---- replies: each one write to /dev/fuse ----

  private write (buf: Buffer, len: number): void {
    if (this.closed) return
    try {
      writeSync(this.fd, buf, 0, len, null)
    } catch (err) {
      // ENOENT: the request was interrupted and is gone; ENODEV: unmounted
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOENT' && code !== 'ENODEV') log('reply: %s', (err as Error).message)
    }
  }

  private error (unique: bigint, errno: number): void {
    this.write(this.out, putOutHeader(this.out, unique, errno < 0 ? errno : -E.EIO, 0))
  }

  /** A reply whose body the caller wrote at out[16..16+len). */
  private reply (unique: bigint, len: number): void {
    this.write(this.out, putOutHeader(this.out, unique, 0, len))
  }

  private replyBytes (unique: bigint, data: Buffer, len: number): void {
    if (this.closed) return
    putOutHeader(this.out, unique, 0, len)
    try {
      writevSync(this.fd, [this.out.subarray(0, OUT_HEADER), data.subarray(0, len)])
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOENT' && code !== 'ENODEV') log('reply: %s', (err as Error).message)
    }
  }

  // ---- requests ----

  private request (b: Buffer): void {
    const h = readHeader(b)
    if (this.o.debug) process.stderr.write(`unique: ${h.unique}, opcode: ${OP_NAMES[h.opcode] ?? 'UNKNOWN'} (${h.opcode}), nodeid: ${h.nodeid}, insize: ${h.len}, pid: ${h.pid}\n`)
    switch (h.opcode) {
      case OP.INIT: this.init(h, b); return
      case OP.FORGET: this.nodes.forget(h.nodeid, u64(b, IN_HEADER)); return
      case OP.BATCH_FORGET: {
        const count = b.readUInt32LE(IN_HEADER)
        for (let i = 0, at = IN_HEADER + 8; i < count && at + 16 <= b.length; i++, at += 16) this.nodes.forget(u64(b, at), u64(b, at + 8))
        return
      }
      case OP.INTERRUPT: return // every operation ends by its own deadline (fuse-ops.ts)
      case OP.DESTROY: return
    }
    const node = this.nodes.get(h.nodeid)
    if (node === undefined) { this.error(h.unique, -E.ESTALE); return }
    const path = node.path
    const ops = this.ops
    switch (h.opcode) {
      case OP.LOOKUP: this.lookup(h, childPath(path, cstring(b, IN_HEADER))); return
      case OP.GETATTR:
        this.stat(path, (err, st) => {
          if (err !== 0) { this.error(h.unique, err); return }
          this.reply(h.unique, putAttrOut(this.out, OUT_HEADER, st!, this.o.cacheSeconds))
        })
        return
      case OP.READLINK:
        if (ops.readlink === undefined) { this.error(h.unique, -E.ENOSYS); return }
        ops.readlink(path, (err, target) => {
          if (err !== 0) { this.error(h.unique, err); return }
          const data = Buffer.from(target ?? '')
          this.replyBytes(h.unique, data, data.length)
        })
        return
      case OP.OPEN: this.open(h, node, b.readUInt32LE(IN_HEADER)); return
      case OP.READ: this.read(h, path, u64(b, IN_HEADER), u64(b, IN_HEADER + 8), b.readUInt32LE(IN_HEADER + 16)); return
      case OP.RELEASE: {
        const fh = u64(b, IN_HEADER)
        this.released(fh)
        if (ops.release === undefined) { this.reply(h.unique, 0); return }
        ops.release(path, fh, () => { this.reply(h.unique, 0) })
        return
      }
      case OP.OPENDIR: // (on a tree that never changes the worker answers ENOSYS: fixedAnswers)
        this.reply(h.unique, putOpenOut(this.out, OUT_HEADER, 0, 0))
        return
      case OP.RELEASEDIR: this.reply(h.unique, 0); return
      case OP.READDIR:
      case OP.READDIRPLUS:
        this.readdir(h, path, u64(b, IN_HEADER + 8), b.readUInt32LE(IN_HEADER + 16), h.opcode === OP.READDIRPLUS)
        return
      case OP.STATFS:
        if (ops.statfs === undefined) { this.reply(h.unique, putStatfs(this.out, OUT_HEADER, {})); return }
        ops.statfs(path, (err, s) => {
          if (err !== 0) { this.error(h.unique, err); return }
          this.reply(h.unique, putStatfs(this.out, OUT_HEADER, s ?? {}))
        })
        return
      case OP.GETXATTR: {
        const size = b.readUInt32LE(IN_HEADER)
        if (ops.getxattr === undefined) { this.error(h.unique, -E.ENOSYS); return }
        ops.getxattr(path, cstring(b, IN_HEADER + 8), 0, (err, value) => {
          if (err !== 0) { this.error(h.unique, err); return }
          this.sized(h.unique, size, value ?? Buffer.alloc(0))
        })
        return
      }
      case OP.LISTXATTR: {
        const size = b.readUInt32LE(IN_HEADER)
        if (ops.listxattr === undefined) { this.sized(h.unique, size, Buffer.alloc(0)); return }
        ops.listxattr(path, (err, names) => {
          if (err !== 0) { this.error(h.unique, err); return }
          this.sized(h.unique, size, Buffer.from((names ?? []).map(n => n + '\0').join('')))
        })
        return
      }
      default:
        // an op neither handled here nor answered by the worker (fixedAnswers): ENOSYS
        this.error(h.unique, -E.ENOSYS)
    }
  }

  private init (h: InHeader, b: Buffer): void {
    const major = b.readUInt32LE(IN_HEADER)
    const minor = b.readUInt32LE(IN_HEADER + 4)
    const maxReadahead = b.readUInt32LE(IN_HEADER + 8)
    const offered = b.readUInt32LE(IN_HEADER + 12)
    // fuse_init_in grew flags2 in 7.36
    const offered2 = minor >= 36 && (offered & INIT.INIT_EXT) !== 0 ? b.readUInt32LE(IN_HEADER + 16) : 0
    if (major !== 7) { this.error(h.unique, -E.EPROTO); return }
    const wanted = INIT.ASYNC_READ | INIT.MAX_PAGES | INIT.DO_READDIRPLUS | INIT.PARALLEL_DIROPS | INIT.NO_OPEN_SUPPORT |
      (this.o.keepCache ? INIT.NO_OPENDIR_SUPPORT | INIT.CACHE_SYMLINKS : INIT.AUTO_INVAL_DATA)
    // Passthrough where opens reach this process (a tree that may change: keepCache
    // mounts open files without a message) and something may have a plain file to hand over.
    const pass = !this.o.keepCache && this.o.passthrough && this.ops.plainFile !== undefined && (offered2 & INIT2_PASSTHROUGH) !== 0
    if (pass) this.backing = new BackingFiles(this.fd)
    this.reply(h.unique, putInitOut(this.out, OUT_HEADER, {
      flags: (wanted & offered) | (pass ? INIT.INIT_EXT : 0),
      maxReadahead,
      maxPages: MAX_PAGES,
      maxBackground: 16,
      ...(pass ? { flags2: INIT2_PASSTHROUGH, maxStackDepth: 1 } : {})
    }))
    this.initialized()
  }

  /** getattr through the ops, the stat guaranteed when err is 0 */
  private stat (path: string, cb: (err: number, st?: FuseStat) => void): void {
    const fn = this.ops.getattr
    if (fn === undefined) { cb(-E.ENOSYS); return }
    fn(path, (err, st) => { cb(err === 0 && st === undefined ? -E.EIO : err, st) })
  }

  private lookup (h: InHeader, path: string): void {
    this.stat(path, (err, st) => {
      if (err === -E.ENOENT) {
        // remembered by the kernel for cacheSeconds: the loader's and interpreters' probes of missing paths
        putEntry(this.out, OUT_HEADER, 0, undefined, this.o.cacheSeconds)
        this.reply(h.unique, ENTRY_OUT)
        return
      }
      if (err !== 0) { this.error(h.unique, err); return }
      putEntry(this.out, OUT_HEADER, this.nodes.lookedUp(path), st, this.o.cacheSeconds)
      this.reply(h.unique, ENTRY_OUT)
    })
  }

  private open (h: InHeader, node: Node, flags: number): void {
    const fn = this.ops.open
    const answer = (fh: number): void => {
      if (this.o.keepCache) { this.reply(h.unique, putOpenOut(this.out, OUT_HEADER, fh, FOPEN_KEEP_CACHE)); return }
      const plain = this.backing?.usable === true && (node.cachedOpens ?? 0) === 0 && node.backing === undefined ? this.ops.plainFile?.(fh) : undefined
      if (node.backing !== undefined || plain !== undefined) {
        this.passthrough(node, fh, plain).then(id => {
          if (id === undefined) { cached(fh); return }
          if (this.o.debug) process.stderr.write(`   open ${node.path}: passthrough, backing id ${id}\n`)
          this.reply(h.unique, putOpenOut(this.out, OUT_HEADER, fh, FOPEN_PASSTHROUGH, id))
        }, () => { cached(fh) })
        return
      }
      cached(fh)
    }
    const cached = (fh: number): void => {
      // Counted at once: while it is open, opens of the node must not go through passthrough (the kernel refuses mixing them).
      node.cachedOpens = (node.cachedOpens ?? 0) + 1
      this.opened.set(fh, { node, pass: false })
      // A first open may put its content in the page cache: there are no pages of another version to mix with.
      const held = node.paged !== true && node.backing === undefined ? this.ops.heldContent?.(fh) : undefined
      node.paged = true
      // auto_cache: keep the pages if the file's size and mtime are what they were when they were read
      this.stat(node.path, (err, st) => {
        const now = err === 0 ? `${st!.size}:${st!.mtime.getTime()}` : undefined
        let keep = now !== undefined && now === node.cached
        if (!keep && now !== undefined && held !== undefined && held.length === st!.size && this.storePages(h.nodeid, held)) {
          keep = true
          this.ops.contentStored?.(fh, held.length)
        }
        node.cached = now
        this.reply(h.unique, putOpenOut(this.out, OUT_HEADER, fh, keep ? FOPEN_KEEP_CACHE : 0))
      })
    }
    if (fn === undefined) { answer(0); return }
    fn(node.path, flags, (err, fd) => {
      if (err !== 0) { this.error(h.unique, err); return }
      answer(fd ?? 0)
    })
  }

  /**
   * Puts a file's whole content in its page cache (FUSE_NOTIFY_STORE; the
   * kernel zeroes the last page past the end and marks every page up to
   * date), before its open is answered with FOPEN_KEEP_CACHE: its reads are
   * then the kernel's alone. A file opened once and read whole, as a cold
   * walk of a swarm mount does 50,000 times, made three round trips to this
   * process (OPEN, READ, RELEASE) and makes two; the READ's request and
   * reply, and the reader's sleep and wake between them, are gone. Only for
   * what is held in memory anyway, and small (STORE_MAX_BYTES): a large file
   * may be read in part. Only at a node's first open read through the page
   * cache: a store leaves pages past its end as they were, so over pages of
   * another version (a following view's path that changed) a shorter
   * content read as its bytes followed by the old version's. Later versions
   * go as before: an open without FOPEN_KEEP_CACHE drops the old pages.
   * False when the kernel did not take it (the inode is no longer known to
   * it): the open then goes as before.
   */
  private storePages (nodeid: number, data: Buffer): boolean {
    if (this.closed || data.length === 0 || data.length > STORE_MAX_BYTES) return false
    putNotifyStore(this.storeHead, nodeid, 0, data.length)
    try {
      writevSync(this.fd, [this.storeHead, data])
      return true
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOENT' && code !== 'ENODEV') log('notify store: %s', (err as Error).message)
      return false
    }
  }

  /**
   * The backing id for a passthrough open of `node` as open file `fh` (of
   * the file at `path` unless the node has one already), or
   * undefined (then it is read through this process). Every open of one node
   * at a time shares one backing id: the kernel refuses two backing files
   * for one inode, and passthrough and cached opens of one inode together.
   * The id is dropped when the node's last passthrough open is released.
   */
  private async passthrough (node: Node, fh: number, path: string | undefined): Promise<number | undefined> {
    const use = (b: { id: number, opens: number }): number => {
      b.opens++
      this.opened.set(fh, { node, pass: true })
      return b.id
    }
    if (node.backing !== undefined) return use(node.backing)
    if (path === undefined || this.backing === undefined) return undefined
    const id = await this.backing.open(path)
    if (id < 0) { log('no backing file for %s (%s): errno %d', node.path, path, -id); return undefined }
    // Another open of the node may have settled the question meanwhile.
    if (node.backing !== undefined || (node.cachedOpens ?? 0) > 0 || this.closed) {
      void this.backing.close(id)
      return node.backing === undefined ? undefined : use(node.backing)
    }
    node.backing = { id, opens: 0 }
    return use(node.backing)
  }

  private released (fh: number): void {
    const o = this.opened.get(fh)
    if (o === undefined) return
    this.opened.delete(fh)
    const node = o.node
    if (!o.pass) { node.cachedOpens = Math.max(0, (node.cachedOpens ?? 0) - 1); return }
    if (node.backing === undefined || --node.backing.opens > 0) return
    void this.backing?.close(node.backing.id)
    node.backing = undefined
  }

  private read (h: InHeader, path: string, fh: number, pos: number, len: number): void {
    const fn = this.ops.read
    if (fn === undefined) { this.error(h.unique, -E.ENOSYS); return }
    const buf = this.spare.pop() ?? Buffer.allocUnsafeSlow(MAX_PAGES * 4096)
    const size = Math.min(len, buf.length)
    fn(path, fh, buf, size, pos, n => {
      if (n < 0) this.error(h.unique, n)
      else this.replyBytes(h.unique, buf, Math.min(n, size))
      if (this.spare.length < 8) this.spare.push(buf)
    })
  }

  /**
   * A window of the listing from `offset` (an index: the kernel hands back the
   * `next` of the last entry it took), as much as fits `size`. With `plus`,
   * each entry carries its attributes, which the kernel keeps as if looked up.
   */
  private readdir (h: InHeader, path: string, offset: number, size: number, plus: boolean): void {
    const fn = this.ops.readdir
    if (fn === undefined) { this.error(h.unique, -E.ENOSYS); return }
    fn(path, (err, names) => {
      if (err !== 0) { this.error(h.unique, err); return }
      const list = names ?? []
      const window: Array<{ name: Buffer, path: string | undefined, st?: FuseStat }> = []
      let bytes = 0
      for (let i = offset; i < list.length; i++) {
        const name = list[i] === '.' ? DOT : list[i] === '..' ? DOTDOT : Buffer.from(list[i])
        const need = direntSize(name.length, plus)
        if (bytes + need > size) break
        bytes += need
        window.push({ name, path: name === DOT || name === DOTDOT ? undefined : childPath(path, list[i]) })
      }
      const finish = (): void => {
        const body = Buffer.allocUnsafe(OUT_HEADER + bytes)
        let at = OUT_HEADER
        for (let i = 0; i < window.length; i++) {
          const e = window[i]
          const next = offset + i + 1
          if (plus) {
            // . and .. carry no entry (node id 0): the kernel knows them
            putEntry(body, at, e.st === undefined || e.path === undefined ? 0 : this.nodes.lookedUp(e.path), e.st, this.o.cacheSeconds)
            at += ENTRY_OUT
          }
          at += putDirent(body, at, e.st?.ino ?? UNKNOWN_INO, next, e.name, direntType(e.st?.mode))
        }
        putOutHeader(body, h.unique, 0, at - OUT_HEADER)
        this.write(body, at)
      }
      if (!plus) { finish(); return }
      let pending = 1
      const done = (): void => { if (--pending === 0) finish() }
      for (const e of window) {
        if (e.path === undefined) continue
        pending++
        this.stat(e.path, (err, st) => { if (err === 0) e.st = st; done() })
      }
      done()
    })
  }

  /** getxattr/listxattr: the value's size when asked with size 0, ERANGE when it does not fit. */
  private sized (unique: bigint, size: number, value: Buffer): void {
    if (size === 0) {
      this.out.writeUInt32LE(value.length, OUT_HEADER)
      this.out.writeUInt32LE(0, OUT_HEADER + 4)
      this.reply(unique, 8)
      return
    }
    if (value.length > size) { this.error(unique, -E.ERANGE); return }
    this.replyBytes(unique, value, value.length)
  }
}
