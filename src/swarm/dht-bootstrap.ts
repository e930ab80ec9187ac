/**
 * Which DHT nodes a new node asks first.
 *
 * Written as `host:port,host:port` (flag `--bootstrap`, env GTFS_BOOTSTRAP),
 * or `none` for the first node of a new network (it waits to be contacted).
 * The default is the mainline routers, for real use only: with GTFS_TEST=1
 * (the test suite) a node must be given its list explicitly and may not name
 * a mainline router, so no test can reach the internet by omission.
 * bittorrent-dht itself falls back to the mainline routers whenever its
 * `bootstrap` option is undefined; `resolveBootstrap` never returns undefined.
 */
import { isIP } from 'node:net'
import { GtfsError } from '../errors.ts'

export interface BootstrapNode {
  host: string
  port: number
}

/** false: bootstrap from nobody (first node); otherwise a non-empty list. */
export type Bootstrap = false | BootstrapNode[]

export const MAINLINE_BOOTSTRAP: readonly string[] = Object.freeze([
  'router.bittorrent.com:6881',
  'router.utorrent.com:6881',
  'dht.transmissionbt.com:6881'
])

const MAINLINE_HOSTS = new Set(MAINLINE_BOOTSTRAP.map(s => s.slice(0, s.lastIndexOf(':'))))
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i
const MAX_NODES = 64

function bad (message: string): GtfsError {
  return new GtfsError('EBOOTSTRAP', message, { hint: 'give --bootstrap host:port[,host:port...] (or GTFS_BOOTSTRAP), or "none" for the first node' })
}

export function isTestMode (env: NodeJS.ProcessEnv = process.env): boolean {
  return env.GTFS_TEST === '1'
}

function parseOne (item: string): BootstrapNode {
  const s = item.trim()
  if (s.startsWith('[')) throw bad(`${s}: IPv6 is not supported (bittorrent-dht speaks UDP over IPv4 only)`)
  const colon = s.lastIndexOf(':')
  if (colon <= 0) throw bad(`${JSON.stringify(s)} is not host:port`)
  const host = s.slice(0, colon)
  const portText = s.slice(colon + 1)
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN
  if (!(port >= 1 && port <= 65535)) throw bad(`${JSON.stringify(s)}: the port must be 1-65535`)
  if (isIP(host) === 6 || host.includes(':')) throw bad(`${s}: IPv6 is not supported (bittorrent-dht speaks UDP over IPv4 only)`)
  if (isIP(host) !== 4 && !HOSTNAME.test(host)) throw bad(`${JSON.stringify(host)} is not a host name or IPv4 address`)
  return { host: host.toLowerCase(), port }
}

/**
 * Parses `host:port,host:port` (commas or whitespace between), `none`/`false`,
 * a list of such strings or nodes, or `false`. Duplicates are dropped.
 */
export function parseBootstrap (spec: string | ReadonlyArray<string | BootstrapNode> | false): Bootstrap {
  if (spec === false) return false
  let items: Array<string | BootstrapNode>
  if (typeof spec === 'string') {
    const t = spec.trim()
    if (t === 'none' || t === 'false') return false
    items = t.split(/[\s,]+/).filter(x => x !== '')
  } else if (Array.isArray(spec)) {
    items = [...spec]
  } else {
    throw bad('the bootstrap list must be a string, a list or false')
  }
  if (items.length === 0) throw bad('the bootstrap list is empty')
  if (items.length > MAX_NODES) throw bad(`more than ${MAX_NODES} bootstrap nodes`)
  const seen = new Set<string>()
  const out: BootstrapNode[] = []
  for (const item of items) {
    const node = typeof item === 'string' ? parseOne(item) : parseOne(`${String(item?.host)}:${String(item?.port)}`)
    const id = `${node.host}:${node.port}`
    if (seen.has(id)) continue
    seen.add(id)
    out.push(node)
  }
  return out
}

export function formatBootstrap (b: Bootstrap): string {
  return b === false ? 'none' : b.map(n => `${n.host}:${n.port}`).join(',')
}

/**
 * The list a node starts with: the given one (flag), else GTFS_BOOTSTRAP,
 * else the mainline routers, except under GTFS_TEST=1, where the mainline
 * routers are never a default and never allowed (EBOOTSTRAP).
 */
export function resolveBootstrap (given: string | ReadonlyArray<string | BootstrapNode> | false | undefined, env: NodeJS.ProcessEnv = process.env): Bootstrap {
  const test = isTestMode(env)
  let list: Bootstrap
  if (given !== undefined) {
    list = parseBootstrap(given)
  } else if (env.GTFS_BOOTSTRAP !== undefined && env.GTFS_BOOTSTRAP.trim() !== '') {
    list = parseBootstrap(env.GTFS_BOOTSTRAP)
  } else if (test) {
    throw bad('GTFS_TEST=1: refusing to start a DHT node without an explicit bootstrap list (the default is the public mainline routers)')
  } else {
    list = parseBootstrap(MAINLINE_BOOTSTRAP)
  }
  if (test && list !== false) {
    const pub = list.find(n => MAINLINE_HOSTS.has(n.host.replace(/\.$/, '')))
    if (pub !== undefined) throw bad(`GTFS_TEST=1: refusing to bootstrap from the public router ${pub.host}`)
  }
  return list
}
