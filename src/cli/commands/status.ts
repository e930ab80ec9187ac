/**
 * gtfs status: what the daemon serves — mounts, their traffic, recent warnings.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { paths } from '../../config.ts'
import { isNoDaemon } from '../../daemon/control-client.ts'
import { listRecords, isServing } from '../../daemon/mount-registry.ts'
import { askDaemon } from '../daemon-client.ts'
import { printJson } from '../output.ts'

interface AutomountInfo {
  repos: Array<{ name: string, repo: string, seq: number, ref: string, commit: string, offline: boolean }>
  failures: Array<{ name: string, code: string, message: string, at: string }>
}
interface MountInfo {
  dir: string
  source: string
  commit: string
  ref: string | null
  started: string
  stats: { openFiles: number, reads: number, bytesRead: number, errors: number }
  automount?: AutomountInfo
  /** mounts by key only */
  seq?: number
  pinned?: boolean
  options?: { allowOther: boolean, suid: boolean, dev: boolean }
  /** how the mount came to be, ms (daemon/swarm-mount.ts MountTimings) */
  timings?: { stateMs: number | null, verifiedMs: number, treesMs: number, viewMs: number, mountedMs?: number }
}
interface PeerInfo { address: string, incoming: boolean, ready: boolean, bytesIn: number, bytesOut: number, objectsIn: number, objectsOut: number, fetch?: { requests: number, owedBytes: number, bytesPerSec: number } }
interface SwarmInfo {
  dht: { port: number, nodes: number } | null
  wirePort: number
  repos: Array<{ repo: string, seeding: boolean, pending: number, fetched: { objects: number, bytes: number, batches: number, retries: number }, peers: PeerInfo[], banned: Array<{ key: string, reason: string }> }>
}
interface Status { pid: number, started: string, socket: string, mounts: MountInfo[], swarm: SwarmInfo | null, memory?: { rss: number, peakRss: number, heapUsed: number, external: number, heapGrowingPercent?: number }, warnings: Array<{ at: string, message: string }> }

export const statusCommand: CommandModule<object, { json?: boolean }> = {
  command: 'status',
  describe: 'show the daemon, its mounts and recent warnings',
  builder: (y: Argv) => y
    .example('gtfs status', 'list mounts with bytes read and errors')
    .example('gtfs status --json', 'the same as data') as unknown as Argv<{ json?: boolean }>,
  handler: async (argv: ArgumentsCamelCase<{ json?: boolean }>) => {
    const p = paths()
    let status: Status | null = null
    try {
      status = await askDaemon<Status>(p, 'status', {}, 10_000)
    } catch (err) {
      if (!isNoDaemon(err)) throw err
    }
    // Mounts served by `gtfs mount -f` processes, or left stale by a killed daemon.
    const others = (await listRecords(p.runtime)).filter(r => status === null || r.pid !== status.pid)
      .map(r => ({ ...r, alive: isServing(r) }))
    if (argv.json) {
      printJson({ daemon: status, others })
      return
    }
    if (status === null) process.stdout.write('daemon: not running\n')
    else {
      process.stdout.write(`daemon: pid ${status.pid}, up since ${status.started}\n`)
      const m = status.memory
      const mib = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`
      if (m !== undefined) {
        // the old generation's allowed growth between full GCs, larger while objects arrive (daemon/gc-pacing.ts)
        const growth = m.heapGrowingPercent === undefined ? '' : ` (may grow ${m.heapGrowingPercent}% between full GCs)`
        process.stdout.write(`memory: ${mib(m.rss)} resident (peak ${mib(m.peakRss)}), JS heap ${mib(m.heapUsed)}${growth}, buffers ${mib(m.external)}\n`)
      }
      if (status.mounts.length === 0) process.stdout.write('mounts: none\n')
      for (const m of status.mounts) {
        if (m.automount !== undefined) {
          process.stdout.write(`${m.dir}\n  automount namespace: ${m.automount.repos.length} names resolved\n`)
          for (const r of m.automount.repos) process.stdout.write(`  ${r.name}: ${r.repo} seq ${r.seq}, ${r.ref} at ${r.commit}${r.offline ? ' (offline)' : ''}\n`)
          for (const f of m.automount.failures) process.stdout.write(`  failed ${f.at} ${f.name}: ${f.message} (${f.code})\n`)
        } else {
          const how = m.pinned === undefined ? '' : `, seq ${m.seq ?? '?'}, ${m.pinned ? 'pinned' : 'following'}`
          const opts = m.options === undefined ? [] : Object.entries({ allow_other: m.options.allowOther, suid: m.options.suid, dev: m.options.dev }).filter(([, on]) => on).map(([k]) => k)
          process.stdout.write(`${m.dir}\n  ${m.commit}${m.ref !== null ? ` (${m.ref})` : ''} from ${m.source}${how}${opts.length > 0 ? `; ${opts.join(',')}` : ''}\n`)
          const t = m.timings
          if (t?.mountedMs !== undefined) {
            process.stdout.write(`  mounted in ${t.mountedMs} ms: ${t.stateMs === null ? 'offline' : `peers' state at ${t.stateMs}`}, verified at ${t.verifiedMs}, every tree at ${t.treesMs}\n`)
          }
        }
        process.stdout.write(`  ${m.stats.reads} reads, ${m.stats.bytesRead} bytes, ${m.stats.openFiles} open files, ${m.stats.errors} errors\n`)
      }
      const sw = status.swarm
      if (sw !== null) {
        process.stdout.write(`swarm: dht udp ${sw.dht?.port ?? '-'} (${sw.dht?.nodes ?? 0} nodes), wire tcp ${sw.wirePort}\n`)
        for (const r of sw.repos) {
          process.stdout.write(`repo ${r.repo}${r.seeding ? ' (seeding)' : ''}: fetched ${r.fetched.objects} objects, ${r.fetched.bytes} bytes; ${r.pending} fetches pending\n`)
          for (const peer of r.peers) {
            // what this node has asked of it now, while it has anything out (a daemon before 2026-12 says nothing)
            const f = peer.fetch
            const asked = f !== undefined && f.requests > 0 ? `; asked ${f.requests} requests, ${f.owedBytes} bytes owed, ${f.bytesPerSec} bytes/s` : ''
            process.stdout.write(`  peer ${peer.address}${peer.incoming ? ' (incoming)' : ''}: in ${peer.objectsIn} objects/${peer.bytesIn} bytes, out ${peer.objectsOut} objects/${peer.bytesOut} bytes${asked}\n`)
          }
          for (const b of r.banned) process.stdout.write(`  banned ${b.key}: ${b.reason}\n`)
        }
      }
      for (const w of status.warnings) process.stdout.write(`warning ${w.at}: ${w.message}\n`)
    }
    for (const r of others) {
      process.stdout.write(`${r.dir}\n  ${r.commit} from ${r.source}: ${r.alive ? `served by pid ${r.pid} (gtfs mount -f)` : 'STALE: its process is gone; gtfs umount cleans it up'}\n`)
    }
  }
}
