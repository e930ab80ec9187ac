/**
 * Which tree entry names may become directory entries. Follows git's fsck and
 * verify_path rules (fsck.c, path.c: is_hfs_dotgit, is_ntfs_dotgit): a name that
 * git itself would refuse to check out is never shown.
 */

/** Code points HFS+ ignores when comparing names (git's is_hfs_dotgit). */
const HFS_IGNORABLE = new Set([
  0x200c, 0x200d, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e,
  0x206a, 0x206b, 0x206c, 0x206d, 0x206e, 0x206f, 0xfeff
])

function isHfsDotGit (name: string): boolean {
  let folded = ''
  for (const ch of name) {
    if (!HFS_IGNORABLE.has(ch.codePointAt(0)!)) folded += ch
  }
  return folded.toLowerCase() === '.git'
}

/**
 * NTFS: ".git" with trailing dots or spaces, any case, an alternate data stream
 * (".git::$INDEX_ALLOCATION", ".git:stream"), or the 8.3 short name "git~1".
 */
function isNtfsDotGit (name: string): boolean {
  const lower = name.toLowerCase()
  const base = lower.split(':', 1)[0]
  if (/^\.git[. ]*$/.test(base)) return true
  if (/^git~1[. ]*$/.test(base)) return true
  return false
}

export type UnsafeReason = 'empty' | 'dot' | 'dotdot' | 'dotgit' | 'slash' | 'nul' | 'backslash-dotgit'

/**
 * True for a name no rule below can refuse: ASCII (HFS's ignorable code points
 * are not), without '/', NUL or '\\', and not starting with '.' or 'g'/'G'
 * (every .git alias starts with one of them once ASCII). Nearly every name
 * is one; the full rules cost ~1 µs a name, 50 ms for a 50,000-file tree.
 */
function plainlySafe (name: string): boolean {
  const c0 = name.charCodeAt(0)
  if (c0 === 0x2e || c0 === 0x67 || c0 === 0x47) return false
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c >= 0x80 || c === 0x2f || c === 0 || c === 0x5c) return false
  }
  return true
}

/**
 * A non-empty plainlySafe name: one unsafeNameReason passes at once. For
 * callers that would otherwise remember safe names (a Set lookup costs more
 * than this check).
 */
export function isPlainlySafeName (name: string): boolean {
  return name.length > 0 && plainlySafe(name)
}

/** Why a tree entry name is unsafe, or null when it may be shown. */
export function unsafeNameReason (name: string): UnsafeReason | null {
  if (name.length === 0) return 'empty'
  if (plainlySafe(name)) return null
  if (name === '.') return 'dot'
  if (name === '..') return 'dotdot'
  if (name.includes('/')) return 'slash'
  if (name.includes('\0')) return 'nul'
  if (isHfsDotGit(name) || isNtfsDotGit(name)) return 'dotgit'
  // A backslash is a path separator on NTFS: "a\.git" would reach a .git there.
  if (name.includes('\\') && name.split('\\').some(part => isNtfsDotGit(part) || part === '..')) return 'backslash-dotgit'
  return null
}

export function isSafeEntryName (name: string): boolean {
  return unsafeNameReason(name) === null
}
