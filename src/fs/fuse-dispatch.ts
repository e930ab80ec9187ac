/**
 * Lean dispatch for the FUSE operations every file read makes: getattr, open,
 * read and release. fuse-native's own dispatch is generic and paid for on each
 * of them: a bound function, two spread copies of the arguments, a per-call
 * closure, a timer (its last-resort timeout, which fuse-ops' deadlines make
 * redundant) and a `process.nextTick` with its own argument array before the
 * answer reaches the waiting libfuse thread. Sampled over a local read of the
 * bench's wide tree (50,000 files), that was 230 of 454 MiB allocated in 8 s,
 * and the major GCs it caused marked the whole view's caches again each time.
 *
 * Here each operation answers straight into fuse-native's native signal: the
 * signal copies what it is given (a stat into libfuse's struct, a byte count)
 * before it posts the semaphore the libfuse thread waits on, so one stat array
 * serves every getattr. Calling it from inside the dispatch that started the
 * operation (an answer from memory) is safe: the native dispatch touches the
 * thread's slot no more after its callback returns.
 *
 * Operations not named here keep fuse-native's dispatch.
 */
import type { FuseOps, FuseStat } from 'fuse-native'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'

type NativeSignal = (handle: unknown, result: number, ...rest: unknown[]) => void
/** fuse-native's handler: the native slot, the op code, then the op's own arguments */
export type Handler = (handle: unknown, opCode: number, ...args: never[]) => void

interface Binding {
  op_getattr: number
  op_open: number
  op_read: number
  op_release: number
  fuse_native_signal_getattr: NativeSignal
  fuse_native_signal_open: NativeSignal
  fuse_native_signal_read: NativeSignal
  fuse_native_signal_release: NativeSignal
}

let binding: Binding | undefined

/** fuse-native's native module (the one its index.js loaded: node caches it by path). */
function nativeBinding (): Binding {
  if (binding === undefined) {
    const req = createRequire(import.meta.url)
    const main = req.resolve('fuse-native')
    binding = createRequire(main)('node-gyp-build')(dirname(main)) as Binding
  }
  return binding
}

/** fuse-native's layout of a stat (mode, uid, gid, size lo/hi, dev, nlink, ino, rdev, blksize, blocks lo/hi, a/m/ctime ms lo/hi). */
const STAT_INTS = 18
const TWO_32 = 4_294_967_296

function setDouble (ints: Uint32Array, at: number, n: number): void {
  const lo = n % TWO_32
  ints[at] = lo
  ints[at + 1] = (n - lo) / TWO_32
}

/** Fills `ints` as fuse-native's getStatArray does (its zero stat when `st` is undefined). */
export function fillStat (ints: Uint32Array, st: FuseStat | undefined): Uint32Array {
  ints.fill(0)
  if (st === undefined) {
    ints[6] = 1
    const now = Date.now()
    setDouble(ints, 12, now); setDouble(ints, 14, now); setDouble(ints, 16, now)
    return ints
  }
  ints[0] = st.mode
  ints[1] = st.uid
  ints[2] = st.gid
  setDouble(ints, 3, st.size)
  ints[5] = st.dev ?? 0
  ints[6] = st.nlink === 0 ? 1 : st.nlink
  ints[7] = st.ino
  ints[8] = st.rdev ?? 0
  ints[9] = st.blksize ?? 0
  setDouble(ints, 10, st.blocks ?? 0)
  setDouble(ints, 12, st.atime.getTime())
  setDouble(ints, 14, st.mtime.getTime())
  setDouble(ints, 16, st.ctime.getTime())
  return ints
}

/**
 * Replaces the hot operations' entries of fuse-native's handler array (indexed
 * by op code). `ops()` gives the current ops object.
 */
export function leanHandlers (stock: Handler[], ops: () => FuseOps): Handler[] {
  const b = nativeBinding()
  const handlers = stock.slice()
  const stat = new Uint32Array(STAT_INTS)

  const getattr = b.fuse_native_signal_getattr
  handlers[b.op_getattr] = (h, _op, path: string) => {
    const fn = ops().getattr
    if (fn === undefined) { getattr(h, -1, fillStat(stat, undefined)); return }
    fn(path, (err, st) => { getattr(h, err, fillStat(stat, err === 0 ? st : undefined)) })
  }

  const open = b.fuse_native_signal_open
  handlers[b.op_open] = (h, _op, path: string, flags: number) => {
    const fn = ops().open
    if (fn === undefined) { open(h, 0, 0); return }
    fn(path, flags, (err, fd) => { open(h, err, fd ?? 0) })
  }

  const read = b.fuse_native_signal_read
  handlers[b.op_read] = (h, _op, path: string, fd: number, buf: Buffer, len: number, lo: number, hi: number) => {
    const fn = ops().read
    if (fn === undefined) { read(h, -1, buf.buffer); return }
    // the byte count (or -errno) is the result; the buffer goes back to be detached
    fn(path, fd, buf, len, lo + hi * TWO_32, n => { read(h, n, 0, buf.buffer) })
  }

  const release = b.fuse_native_signal_release
  handlers[b.op_release] = (h, _op, path: string, fd: number) => {
    const fn = ops().release
    if (fn === undefined) { release(h, 0); return }
    fn(path, fd, err => { release(h, err) })
  }
  return handlers
}
