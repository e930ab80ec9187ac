/**
 * openpgp, loaded on first use. Evaluating it (AES tables, curves) took ~80 ms
 * of a daemon's start before its control socket listened, and a mount needs
 * it only once a peer's signed state has arrived: a mount starts loading it
 * when it asks for that state (preloadOpenpgp), so it loads while the state
 * travels. Preloaded when the daemon began to listen, it held up the mount's
 * first requests by ~100 ms instead.
 */
type Openpgp = typeof import('openpgp')

let loading: Promise<Openpgp> | undefined

export async function pgp (): Promise<Openpgp> {
  if (loading === undefined) {
    loading = import('openpgp')
    loading.catch(() => { loading = undefined }) // the next call tries again
  }
  return await loading
}

/** Starts loading openpgp; never fails (a failure is pgp()'s to report). */
export function preloadOpenpgp (): void {
  pgp().catch(() => {})
}
