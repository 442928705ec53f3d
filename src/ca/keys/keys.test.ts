import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, sign, verify } from "node:crypto";
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SpindleError } from "../../common/index.js";
import type { KeyManager } from "../contracts.js";
import { createDiskKeyManager, createMemoryKeyManager, keyTypeOf } from "./index.js";

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "spindle-keys-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function exerciseManager(km: KeyManager) {
  for (const type of ["ec-p256", "ec-p384", "rsa-2048"] as const) {
    const pair = await km.generateKey(`k-${type}`, type);
    assert.equal(keyTypeOf(pair.privateKey), type);
    const got = await km.getKey(`k-${type}`);
    assert.ok(got);
    const sig = sign("sha256", Buffer.from("x"), got.privateKey);
    assert.ok(verify("sha256", Buffer.from("x"), pair.publicKey, sig), "stored key is the generated key");
  }
  assert.equal(await km.getKey("missing"), undefined);
  await km.deleteKey("k-ec-p256");
  assert.equal(await km.getKey("k-ec-p256"), undefined);
  await km.deleteKey("k-ec-p256"); // deleting twice is fine
  const imported = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pair = await km.importKey("imported", imported.privateKey);
  assert.ok(pair.publicKey.equals(imported.publicKey));
  const ed = generateKeyPairSync("ed25519");
  await assert.rejects(km.importKey("ed", ed.privateKey), (e: unknown) => SpindleError.is(e, "ERR_KEY_UNSUPPORTED") && /ed25519/.test(e.message));
  await assert.rejects(km.generateKey("../escape", "ec-p256"), TypeError);
}

test("memory key manager generates, imports, returns and deletes keys of every type", async () => {
  const km = createMemoryKeyManager();
  assert.equal(km.kind, "memory");
  await exerciseManager(km);
});

test("disk key manager: same behaviour; files are PKCS#8 PEM 0600 in a 0700 directory", async (t) => {
  const base = await tempDir(t);
  const dir = join(base, "keys");
  const km = createDiskKeyManager({ dir });
  assert.equal(km.kind, "disk");
  await exerciseManager(km);
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  const files = (await readdir(dir)).sort();
  assert.deepEqual(files, ["imported.key.pem", "k-ec-p384.key.pem", "k-rsa-2048.key.pem"], "no temp files left, deleted key gone");
  for (const f of files) {
    assert.equal((await stat(join(dir, f))).mode & 0o777, 0o600, `${f} is 0600`);
    assert.match(await readFile(join(dir, f), "utf8"), /^-----BEGIN PRIVATE KEY-----\n/);
  }
});

test("disk key manager: a new instance (restart) loads the same keys from disk", async (t) => {
  const dir = join(await tempDir(t), "keys");
  const first = await createDiskKeyManager({ dir }).generateKey("ca-1", "ec-p384");
  const again = await createDiskKeyManager({ dir }).getKey("ca-1");
  assert.ok(again);
  assert.ok(again.publicKey.equals(first.publicKey));
});

test("disk key manager refuses a key file readable by group/other, naming the file and its mode", async (t) => {
  const dir = join(await tempDir(t), "keys");
  await createDiskKeyManager({ dir }).generateKey("ca-1", "ec-p256");
  const file = join(dir, "ca-1.key.pem");
  await chmod(file, 0o644);
  await assert.rejects(createDiskKeyManager({ dir }).getKey("ca-1"), (e: unknown) => {
    assert.ok(SpindleError.is(e, "ERR_KEY_FILE_PERMISSIONS"));
    assert.ok(e.message.includes(file), "message names the file");
    assert.ok(e.message.includes("0644"), "message names the mode");
    assert.ok(e.message.includes("chmod 0600"), "message says how to fix it");
    return true;
  });
  await chmod(file, 0o640);
  await assert.rejects(createDiskKeyManager({ dir }).getKey("ca-1"), (e: unknown) => SpindleError.is(e, "ERR_KEY_FILE_PERMISSIONS"));
  await chmod(file, 0o400);
  assert.ok(await createDiskKeyManager({ dir }).getKey("ca-1"), "owner-only read is fine");
});

test("disk key manager refuses a key directory accessible by group/other", async (t) => {
  const dir = join(await tempDir(t), "keys");
  await createDiskKeyManager({ dir }).generateKey("ca-1", "ec-p256");
  await chmod(dir, 0o755);
  await assert.rejects(createDiskKeyManager({ dir }).getKey("ca-1"), (e: unknown) => {
    assert.ok(SpindleError.is(e, "ERR_KEY_FILE_PERMISSIONS"));
    assert.ok(e.message.includes(dir) && e.message.includes("0755"));
    return true;
  });
});

test("disk key manager reports a corrupt key file by name", async (t) => {
  const dir = join(await tempDir(t), "keys");
  await createDiskKeyManager({ dir }).generateKey("ca-1", "ec-p256");
  const file = join(dir, "ca-1.key.pem");
  await writeFile(file, "not a key", { mode: 0o600 });
  await assert.rejects(createDiskKeyManager({ dir }).getKey("ca-1"), (e: unknown) => SpindleError.is(e, "ERR_KEY_FILE_INVALID") && e.message.includes(file));
});
