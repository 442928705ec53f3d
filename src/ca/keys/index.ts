// Key managers for CA and JWT signing keys (P-256 default, P-384, RSA-2048).
export { createMemoryKeyManager } from "./memory-key-manager.js";
export { createDiskKeyManager } from "./disk-key-manager.js";
export type { DiskKeyManagerOptions } from "./disk-key-manager.js";
export { KEY_TYPES, DEFAULT_KEY_TYPE, isKeyType, generateKeyPair, keyTypeOf, keyPairFromPrivate, isAcceptableWorkloadKey } from "./key-types.js";
