// CA and JWT signing keys as PKCS#8 PEM files, mode 0600, in a dedicated 0700 directory. A key
// file or directory that group/other can access is refused on load rather than used: a leaked
// CA key lets anyone mint identities for the whole trust domain.
import { createPrivateKey, randomBytes, type KeyObject } from "node:crypto";
import { mkdir, open, readFile, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { spindleError } from "../../common/index.js";
import type { KeyManager, KeyPair, KeyType } from "../contracts.js";
import { assertKeyId, generateKeyPair, keyPairFromPrivate } from "./key-types.js";

export interface DiskKeyManagerOptions {
  /** Directory holding only key files; created with mode 0700 when missing. */
  dir: string;
}

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
const octal = (mode: number) => "0" + (mode & 0o777).toString(8);

function looseModeError(kind: "key file" | "key directory", path: string, mode: number, wanted: number) {
  return spindleError(
    "ERR_KEY_FILE_PERMISSIONS",
    `${kind} ${path} has mode ${octal(mode)}; group/other must have no access (expected ${octal(wanted)}): fix with chmod ${octal(wanted)} ${path}`,
    { details: { path, mode: octal(mode) } },
  );
}

export function createDiskKeyManager(options: DiskKeyManagerOptions): KeyManager {
  const { dir } = options;
  if (typeof dir !== "string" || dir === "") throw new TypeError("createDiskKeyManager: dir is required");
  const cache = new Map<string, KeyPair>();
  let dirReady: Promise<void> | undefined;

  const fileOf = (id: string) => join(dir, `${id}.key.pem`);

  async function prepareDir(): Promise<void> {
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
    const st = await stat(dir);
    if (!st.isDirectory()) throw spindleError("ERR_KEY_FILE_INVALID", `key directory ${dir} is not a directory`);
    if (st.mode & 0o077) throw looseModeError("key directory", dir, st.mode, DIR_MODE);
  }
  const ensureDir = () => (dirReady ??= prepareDir().catch((err: unknown) => {
    dirReady = undefined;
    throw err;
  }));

  /** Write-then-rename so a crash never leaves a truncated key under the real name. */
  async function writeKey(id: string, privateKey: KeyObject): Promise<void> {
    await ensureDir();
    const pem = privateKey.export({ format: "pem", type: "pkcs8" });
    const path = fileOf(id);
    const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
    const fh = await open(tmp, "wx", FILE_MODE);
    try {
      await fh.chmod(FILE_MODE); // the umask can only narrow the mode, but be explicit
      await fh.writeFile(pem);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  }

  async function loadKey(id: string): Promise<KeyPair | undefined> {
    await ensureDir();
    const path = fileOf(id);
    let st;
    try {
      st = await stat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    if (!st.isFile()) throw spindleError("ERR_KEY_FILE_INVALID", `key file ${path} is not a regular file`);
    if (st.mode & 0o077) throw looseModeError("key file", path, st.mode, FILE_MODE);
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({ key: await readFile(path), format: "pem" });
    } catch (err) {
      throw spindleError("ERR_KEY_FILE_INVALID", `key file ${path} is not a readable PKCS#8 PEM private key`, { cause: err });
    }
    return keyPairFromPrivate(privateKey, `key file ${path}`);
  }

  return {
    kind: "disk",
    async generateKey(id: string, type: KeyType) {
      assertKeyId(id);
      const pair = await generateKeyPair(type);
      await writeKey(id, pair.privateKey);
      cache.set(id, pair);
      return pair;
    },
    async importKey(id: string, privateKey: KeyObject) {
      assertKeyId(id);
      const pair = keyPairFromPrivate(privateKey, `key ${id}`);
      await writeKey(id, pair.privateKey);
      cache.set(id, pair);
      return pair;
    },
    async getKey(id: string) {
      assertKeyId(id);
      const cached = cache.get(id);
      if (cached !== undefined) return cached;
      const pair = await loadKey(id);
      if (pair !== undefined) cache.set(id, pair);
      return pair;
    },
    async deleteKey(id: string) {
      assertKeyId(id);
      cache.delete(id);
      try {
        await unlink(fileOf(id));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    },
  };
}

