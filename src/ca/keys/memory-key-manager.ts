// Keys held in process memory only: for tests and for deployments that accept a new CA on restart.
import type { KeyObject } from "node:crypto";
import type { KeyManager, KeyPair, KeyType } from "../contracts.js";
import { assertKeyId, generateKeyPair, keyPairFromPrivate } from "./key-types.js";

export function createMemoryKeyManager(): KeyManager {
  const keys = new Map<string, KeyPair>();
  return {
    kind: "memory",
    async generateKey(id: string, type: KeyType) {
      assertKeyId(id);
      const pair = await generateKeyPair(type);
      keys.set(id, pair);
      return pair;
    },
    async importKey(id: string, privateKey: KeyObject) {
      assertKeyId(id);
      const pair = keyPairFromPrivate(privateKey, `key ${id}`);
      keys.set(id, pair);
      return pair;
    },
    async getKey(id: string) {
      assertKeyId(id);
      return keys.get(id);
    },
    async deleteKey(id: string) {
      assertKeyId(id);
      keys.delete(id);
    },
  };
}
