/**
 * The kernel's FUSE protocol (linux/fuse.h, protocol 7.31), as much of it as a
 * read-only filesystem speaks: request header and arguments in, replies out.
 * Pure: buffers in, buffers out; dev-fuse.ts does the I/O.
 *
 * Layouts, little-endian, as the kernel lays them out on x86-64 and arm64:
 * fuse_in_header (40 bytes), fuse_out_header (16), fuse_attr (88),
 * fuse_entry_out (128), fuse_attr_out (104), fuse_open_out (16),
 * fuse_init_out (64), fuse_kstatfs (80), fuse_dirent (24 + name, 8-aligned),
 * fuse_direntplus (fuse_entry_out + fuse_dirent).
 */
import type { FuseStat } from 'fuse-native'

export const OP = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  READLINK: 5,
  OPEN: 14,
  READ: 15,
  STATFS: 17,
  RELEASE: 18,
  GETXATTR: 22,
  LISTXATTR: 23,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  INTERRUPT: 36,
  DESTROY: 38,
  BATCH_FORGET: 42,
  READDIRPLUS: 44,
  // ops a read-only filesystem does without
  SETATTR: 4,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  WRITE: 16,
  FSYNC: 20,
  SETXATTR: 21,
  REMOVEXATTR: 24,
  FSYNCDIR: 30,
  GETLK: 31,
  SETLK: 32,
  SETLKW: 33,
  ACCESS: 34,
  CREATE: 35,
  BMAP: 37,
  IOCTL: 39,
  POLL: 40,
  FALLOCATE: 43,
  RENAME2: 45,
  LSEEK: 46,
  COPY_FILE_RANGE: 47,
  STATX: 52
} as const

/** Op names for --fuse-debug lines, by op code. */
export const OP_NAMES: Record<number, string> = Object.fromEntries(Object.entries(OP).map(([name, code]) => [code, name]))

/** Ops that would change the tree: the `ro` mount has the kernel refuse them first; EROFS if one comes anyway. */
export const WRITE_OPS: readonly number[] = [OP.SETATTR, OP.SYMLINK, OP.MKNOD, OP.MKDIR, OP.UNLINK, OP.RMDIR, OP.RENAME, OP.LINK, OP.WRITE, OP.SETXATTR, OP.REMOVEXATTR, OP.CREATE, OP.FALLOCATE, OP.RENAME2, OP.COPY_FILE_RANGE]

/**
 * Ops answered ENOSYS, after which the kernel does without them: it flushes,
 * checks access (or default_permissions does), locks and seeks by itself, and
 * asks GETATTR instead of STATX.
 */
export const UNSUPPORTED_OPS: readonly number[] = [OP.FLUSH, OP.FSYNC, OP.FSYNCDIR, OP.GETLK, OP.SETLK, OP.SETLKW, OP.ACCESS, OP.BMAP, OP.IOCTL, OP.POLL, OP.LSEEK, OP.STATX]

/** fuse_init_in/out flags */
export const INIT = {
  ASYNC_READ: 1 << 0,
  DO_READDIRPLUS: 1 << 13,
  AUTO_INVAL_DATA: 1 << 12,
  NO_OPEN_SUPPORT: 1 << 17,
  PARALLEL_DIROPS: 1 << 18,
  MAX_PAGES: 1 << 22,
  CACHE_SYMLINKS: 1 << 23,
  NO_OPENDIR_SUPPORT: 1 << 24,
  /** fuse_init_in/out carry flags2 (the high 32 bits of the flags) */
  INIT_EXT: 1 << 30
} as const

/** flags2 of fuse_init_in/out: FUSE_PASSTHROUGH (bit 37 of the 64-bit flags) */
export const INIT2_PASSTHROUGH = 1 << 5

/** fuse_open_out.open_flags */
export const FOPEN_KEEP_CACHE = 1 << 1
/** reads of this open go to the backing file named by fuse_open_out.backing_id (never with FOPEN_KEEP_CACHE) */
export const FOPEN_PASSTHROUGH = 1 << 7

export const PROTOCOL_MINOR = 31
export const IN_HEADER = 40
export const OUT_HEADER = 16
const ATTR = 88
export const ENTRY_OUT = 40 + ATTR
const TWO_32 = 4_294_967_296

export interface InHeader {
  len: number
  opcode: number
  /** the request's id: 8 bytes, kept as they came for the reply */
  unique: bigint
  nodeid: number
  uid: number
  gid: number
  pid: number
}

/** a u64 that fits a double (node ids, offsets, file handles) */
export function u64 (b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * TWO_32
}

function putU64 (b: Buffer, at: number, n: number): void {
  const lo = n % TWO_32
  b.writeUInt32LE(lo, at)
  b.writeUInt32LE((n - lo) / TWO_32, at + 4)
}

export function readHeader (b: Buffer): InHeader {
  return {
    len: b.readUInt32LE(0),
    opcode: b.readUInt32LE(4),
    unique: b.readBigUInt64LE(8),
    nodeid: u64(b, 16),
    uid: b.readUInt32LE(24),
    gid: b.readUInt32LE(28),
    pid: b.readUInt32LE(32)
  }
}

/** A NUL-terminated name starting at `at`. */
export function cstring (b: Buffer, at: number): string {
  const end = b.indexOf(0, at)
  return b.toString('utf8', at, end < 0 ? b.length : end)
}

/** Writes the out header for a reply whose body is `bodyLen` bytes. */
export function putOutHeader (b: Buffer, unique: bigint, error: number, bodyLen: number): number {
  b.writeUInt32LE(OUT_HEADER + bodyLen, 0)
  b.writeInt32LE(error, 4)
  b.writeBigUInt64LE(unique, 8)
  return OUT_HEADER + bodyLen
}

function putTime (b: Buffer, secAt: number, nsecAt: number, d: Date): void {
  const ms = d.getTime()
  const sec = Math.floor(ms / 1000)
  putU64(b, secAt, Math.max(0, sec))
  b.writeUInt32LE((ms - sec * 1000) * 1_000_000, nsecAt)
}

/** fuse_attr at `at` */
export function putAttr (b: Buffer, at: number, st: FuseStat): void {
  putU64(b, at, st.ino)
  putU64(b, at + 8, st.size)
  putU64(b, at + 16, st.blocks ?? Math.ceil(st.size / 512))
  putTime(b, at + 24, at + 48, st.atime)
  putTime(b, at + 32, at + 52, st.mtime)
  putTime(b, at + 40, at + 56, st.ctime)
  b.writeUInt32LE(st.mode >>> 0, at + 60)
  b.writeUInt32LE(st.nlink === 0 ? 1 : st.nlink, at + 64)
  b.writeUInt32LE(st.uid >>> 0, at + 68)
  b.writeUInt32LE(st.gid >>> 0, at + 72)
  b.writeUInt32LE((st.rdev ?? 0) >>> 0, at + 76)
  b.writeUInt32LE(st.blksize ?? 4096, at + 80)
  b.writeUInt32LE(0, at + 84)
}

/**
 * fuse_entry_out at `at`: `nodeid` 0 with no stat is a negative entry (the
 * kernel remembers the miss for `seconds`), or in a readdirplus listing "no
 * entry for this name".
 */
export function putEntry (b: Buffer, at: number, nodeid: number, st: FuseStat | undefined, seconds: number): void {
  b.fill(0, at, at + ENTRY_OUT)
  putU64(b, at, nodeid)
  putU64(b, at + 16, seconds) // entry_valid
  putU64(b, at + 24, st === undefined ? 0 : seconds) // attr_valid
  if (st !== undefined) putAttr(b, at + 40, st)
}

/** fuse_attr_out at `at` (104 bytes) */
export function putAttrOut (b: Buffer, at: number, st: FuseStat, seconds: number): number {
  putU64(b, at, seconds)
  b.writeUInt32LE(0, at + 8)
  b.writeUInt32LE(0, at + 12)
  putAttr(b, at + 16, st)
  return 16 + ATTR
}

/** fuse_open_out at `at` (16 bytes) */
/**
 * fuse_notify_code FUSE_NOTIFY_STORE (Linux 2.6.36): bytes for an inode's page
 * cache, written to /dev/fuse unasked (unique 0, the code in the error field).
 */
export const NOTIFY_STORE = 4
/** the out header and fuse_notify_store_out (nodeid, offset, size, padding) before the data */
export const NOTIFY_STORE_HEADER = OUT_HEADER + 24

/** Writes the header of a FUSE_NOTIFY_STORE of `size` bytes at `offset` of node `nodeid`; the bytes follow it. */
export function putNotifyStore (b: Buffer, nodeid: number, offset: number, size: number): number {
  b.writeUInt32LE(NOTIFY_STORE_HEADER + size, 0)
  b.writeInt32LE(NOTIFY_STORE, 4)
  b.writeBigUInt64LE(0n, 8)
  putU64(b, OUT_HEADER, nodeid)
  putU64(b, OUT_HEADER + 8, offset)
  b.writeUInt32LE(size, OUT_HEADER + 16)
  b.writeUInt32LE(0, OUT_HEADER + 20)
  return NOTIFY_STORE_HEADER
}

export function putOpenOut (b: Buffer, at: number, fh: number, flags: number, backingId = 0): number {
  b.fill(0, at, at + 16)
  putU64(b, at, fh)
  b.writeUInt32LE(flags, at + 8)
  b.writeInt32LE(backingId, at + 12)
  return 16
}

export interface InitOut {
  flags: number
  maxReadahead: number
  maxPages: number
  maxBackground: number
  /** the high 32 bits of the flags (with INIT.INIT_EXT in flags) */
  flags2?: number
  /** with INIT2_PASSTHROUGH: how deep backing files may be stacked (1: a plain local filesystem) */
  maxStackDepth?: number
}

/** fuse_init_out at `at` (64 bytes) */
export function putInitOut (b: Buffer, at: number, o: InitOut): number {
  b.fill(0, at, at + 64)
  b.writeUInt32LE(7, at)
  b.writeUInt32LE(PROTOCOL_MINOR, at + 4)
  b.writeUInt32LE(o.maxReadahead, at + 8)
  b.writeUInt32LE(o.flags >>> 0, at + 12)
  b.writeUInt16LE(o.maxBackground, at + 16)
  b.writeUInt16LE(Math.floor(o.maxBackground * 3 / 4), at + 18) // congestion_threshold
  b.writeUInt32LE(4096, at + 20) // max_write: nothing is written to a read-only mount
  b.writeUInt32LE(1, at + 24) // time_gran: nanoseconds
  b.writeUInt16LE(o.maxPages, at + 28)
  b.writeUInt32LE((o.flags2 ?? 0) >>> 0, at + 32)
  b.writeUInt32LE(o.maxStackDepth ?? 0, at + 36)
  return 64
}

/** fuse_kstatfs at `at` (80 bytes) from fuse-native's statfs object */
export function putStatfs (b: Buffer, at: number, s: Record<string, number>): number {
  b.fill(0, at, at + 80)
  putU64(b, at, s.blocks ?? 0)
  putU64(b, at + 8, s.bfree ?? 0)
  putU64(b, at + 16, s.bavail ?? 0)
  putU64(b, at + 24, s.files ?? 0)
  putU64(b, at + 32, s.ffree ?? 0)
  b.writeUInt32LE(s.bsize ?? 4096, at + 40)
  b.writeUInt32LE(s.namemax ?? 255, at + 44)
  b.writeUInt32LE(s.frsize ?? 4096, at + 48)
  return 80
}

/** The d_type of a mode (DT_DIR, DT_REG, DT_LNK, ...: the S_IFMT bits shifted), 0 when unknown. */
export function direntType (mode: number | undefined): number {
  return mode === undefined ? 0 : (mode >>> 12) & 0o17
}

/** Bytes one dirent of `nameLen` bytes takes; with `plus`, the entry before it. */
export function direntSize (nameLen: number, plus: boolean): number {
  return (plus ? ENTRY_OUT : 0) + ((24 + nameLen + 7) & ~7)
}

/**
 * One fuse_dirent at `at`: `next` is the offset the kernel passes back to
 * continue after this entry. Returns the bytes written (8-aligned).
 */
export function putDirent (b: Buffer, at: number, ino: number, next: number, name: Buffer, type: number): number {
  putU64(b, at, ino)
  putU64(b, at + 8, next)
  b.writeUInt32LE(name.length, at + 16)
  b.writeUInt32LE(type, at + 20)
  name.copy(b, at + 24)
  const size = (24 + name.length + 7) & ~7
  b.fill(0, at + 24 + name.length, at + size)
  return size
}
