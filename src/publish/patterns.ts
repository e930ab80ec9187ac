/** lowercase hex SHA-256: repo keys, manifest and catalog hashes */
export const SHA256_HEX_PATTERN = /^[0-9a-f]{64}$/
