/**
 * Size and count caps. Every cap is checked on the raw bytes before they are
 * parsed, so an oversized input costs one length comparison (security rules:
 * "size under cap").
 */

/** bytes; a policy names keys and rules, never data */
export const MAX_POLICY_BYTES = 64 * 1024
/** bytes; a manifest lists refs, not objects */
export const MAX_MANIFEST_BYTES = 256 * 1024
/** bytes; a catalog lists every path of a commit (a distro root has ~10^5) */
export const MAX_CATALOG_BYTES = 64 * 1024 * 1024
/** bytes; one detached signature blob (an RSA-4096 signature is ~550 bytes) */
export const MAX_SIGNATURE_BYTES = 16 * 1024
/** signature packets verified per document; bounds the work an attacker can ask for */
export const MAX_SIGNATURE_PACKETS = 64
/** bytes; an armored or binary key (or key bundle) to import */
export const MAX_KEY_BYTES = 1024 * 1024
/** keys read from one import or bundle */
export const MAX_KEYS_PER_IMPORT = 256
/** bytes; accepted-state and local-trust files */
export const MAX_STATE_BYTES = 1024 * 1024
/** nesting depth of any signed JSON document */
export const MAX_JSON_DEPTH = 16
/** seconds; default tolerated clock skew for `created` checks */
export const DEFAULT_MAX_SKEW_SECONDS = 300
