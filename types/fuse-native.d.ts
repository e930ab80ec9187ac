// Types for the parts of fuse-native (2.2.x) that gtfs uses; the package ships none.
declare module 'fuse-native' {
  type Cb = (err: number, ...rest: unknown[]) => void

  export interface FuseStat {
    mode: number
    uid: number
    gid: number
    size: number
    dev?: number
    nlink: number
    ino: number
    rdev?: number
    blksize?: number
    blocks?: number
    atime: Date
    mtime: Date
    ctime: Date
  }

  export interface FuseOps {
    init?: (cb: (err: number) => void) => void
    statfs?: (path: string, cb: (err: number, st?: Record<string, number>) => void) => void
    getattr?: (path: string, cb: (err: number, st?: FuseStat) => void) => void
    fgetattr?: (path: string, fd: number, cb: (err: number, st?: FuseStat) => void) => void
    readdir?: (path: string, cb: (err: number, names?: readonly string[], stats?: FuseStat[]) => void) => void
    readlink?: (path: string, cb: (err: number, target?: string) => void) => void
    open?: (path: string, flags: number, cb: (err: number, fd?: number) => void) => void
    opendir?: (path: string, flags: number, cb: (err: number, fd?: number) => void) => void
    read?: (path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (bytesOrErr: number) => void) => void
    release?: (path: string, fd: number, cb: (err: number) => void) => void
    releasedir?: (path: string, fd: number, cb: (err: number) => void) => void
    listxattr?: (path: string, cb: (err: number, names?: string[]) => void) => void
    getxattr?: (path: string, name: string, position: number, cb: (err: number, value?: Buffer | null) => void) => void
    access?: (path: string, mode: number, cb: (err: number) => void) => void
    [op: string]: ((...args: any[]) => void) | undefined
  }

  export interface FuseOptions {
    force?: boolean
    mkdir?: boolean
    debug?: boolean
    allowOther?: boolean
    allowRoot?: boolean
    kernelCache?: boolean
    autoCache?: boolean
    defaultPermissions?: boolean
    maxRead?: number
    fsname?: string
    subtype?: string
    entryTimeout?: number
    attrTimeout?: number
    acAttrTimeout?: number
    uid?: number
    gid?: number
    /** per-op deadline in ms, or false for none */
    timeout?: number | false
  }

  export default class Fuse {
    constructor (mnt: string, ops: FuseOps, opts?: FuseOptions)
    readonly mnt: string
    mount (cb: (err: Error | null) => void): void
    unmount (cb: (err: Error | null) => void): void
    static unmount (mnt: string, cb: (err: Error | null) => void): void
    static isConfigured (cb: (err: Error | null, yes: boolean) => void): void
    static readonly ENOENT: number
    static readonly EIO: number
    static readonly EROFS: number
    static readonly ENOTDIR: number
    static readonly EISDIR: number
    static readonly EINVAL: number
    static readonly ENODATA: number
    static readonly ENOTSUP: number
    static readonly EBADF: number
    static readonly ETIMEDOUT: number
    static readonly ENAMETOOLONG: number
    [k: string]: unknown
  }
}
