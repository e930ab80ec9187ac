/**
 * src/trust — who may publish what, and whether a given manifest is it.
 *
 * Owns: canonical JSON for signed documents, signer keys and the on-disk
 * keyring, detached OpenPGP signatures and m-of-n thresholds, the policy
 * (and its rotation chain from the genesis that names the repo key), the
 * manifest and its acceptance rules, catalog hash checks, and the persisted
 * accepted state and local trust override. No network, no CLI, no logging;
 * git ancestry is asked of the caller (`isAncestor`). See README.md.
 */
export * from './codes.ts'
export { canonicalBytes, canonicalText, parseCanonical, type JsonValue, type JsonObject } from './canonical-json.ts'
export { sha256Hex } from './digest.ts'
export * from './limits.ts'
export {
  FINGERPRINT, MIN_RSA_BITS, normalizeFingerprint, fingerprintOf, generateSigner, readKeys, checkKeyStrength,
  unlockPrivateKey, describeKey, writeKeyBundle, readKeyBundle, indexKeys,
  type GenerateSignerOptions, type GeneratedSigner, type KeyInfo
} from './keys.ts'
export { Keyring } from './keyring.ts'
export {
  signDetached, signAll, verifySignatures, countSigners, requireThreshold,
  type SignatureCheck, type SignatureProblem, type SignerRule
} from './signatures.ts'
export { isValidRefName, isValidPattern, ruleForRef, type SignerSet, type RefRule, type EffectiveRule } from './ref-rules.ts'
export {
  GENESIS_VERSION, nowSeconds, policyBytes, parsePolicy, validatePolicy, repoKeyOf, makeGenesisPolicy, makeNextPolicy, signPolicy,
  type Policy, type SignedDocument, type GenesisOptions, type NextPolicyOptions
} from './policy.ts'
export { verifyPolicyChain, type VerifiedPolicy, type PolicyChainInput } from './policy-chain.ts'
export {
  manifestBytes, manifestHash, parseManifest, validateManifest, makeManifest, signManifest,
  type Manifest, type RefEntry, type MakeManifestOptions
} from './manifest.ts'
export { verifyManifest, type VerifyManifestInput, type VerifyManifestOptions, type VerifiedManifest } from './verify-manifest.ts'
export { verifyCatalog } from './catalog-check.ts'
export {
  loadAcceptedState, saveAcceptedState, removeAcceptedState, encodeAcceptedState, decodeAcceptedState,
  type AcceptedState
} from './accepted-state.ts'
export { makeLocalTrust, loadLocalTrust, saveLocalTrust, clearLocalTrust, type LocalTrust } from './local-trust.ts'
export { writeFileAtomic, readFileCapped } from '../atomic-file.ts'
