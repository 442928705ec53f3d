// upstream_authority: the server's CA is signed by an existing PKI; minted SVIDs chain to its root,
// and a bad key file fails the start with the reason and leaves nothing listening.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAdminClient } from "../../src/ca/admin/index.js";
import { SpindleError } from "../../src/common/errors.js";
import { pemToDers } from "../../src/common/pem.js";
import { createBundle, createBundleSet, parseTrustDomain, validateX509Svid } from "../../src/spiffe/index.js";
import { createTestCa } from "../support/spiffe/index.js";
import { startTestServer } from "./helpers/server.js";

function writeUpstream(dir: string) {
  const now = Date.now();
  const root = createTestCa({ trustDomain: "example.org", notAfter: now + 30 * 86400_000 });
  const mid = createTestCa({ trustDomain: "example.org", parent: root, notAfter: now + 20 * 86400_000 });
  const files = { certFile: join(dir, "up.crt"), keyFile: join(dir, "up.key"), bundleFile: join(dir, "up-bundle.crt") };
  writeFileSync(files.certFile, mid.pem);
  writeFileSync(files.keyFile, mid.privateKey.export({ type: "pkcs8", format: "pem" }) as string);
  writeFileSync(files.bundleFile, root.pem);
  return { root, mid, files };
}

test("SVIDs minted under an upstream authority validate against the upstream root", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spindle-up-"));
  const { root, mid, files } = writeUpstream(dir);
  const srv = await startTestServer({ upstreamAuthority: files });
  try {
    const client = createAdminClient({ socketPath: srv.options.adminSocket });
    const bundle = pemToDers((await client.getBundle({})).pem, "CERTIFICATE");
    assert.deepEqual(bundle, [root.der], "the bundle publishes the upstream root only");
    const x = await client.mintX509SVID({ spiffeId: "spiffe://example.org/up" });
    assert.deepEqual(Buffer.from(x.certChain.at(-1)!), mid.der, "the chain ends with the upstream intermediate");
    const set = createBundleSet([createBundle({ trustDomain: parseTrustDomain("example.org"), x509Authorities: bundle })]);
    assert.equal(validateX509Svid(x.certChain, set, { now: Date.now() }).spiffeId.toString(), "spiffe://example.org/up");
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an unreadable upstream key fails the start and leaves nothing behind", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spindle-up-bad-"));
  const { files } = writeUpstream(dir);
  writeFileSync(files.keyFile, "not a key");
  const sock = join(dir, "private", "admin.sock");
  await assert.rejects(
    startTestServer({ upstreamAuthority: files, adminSocket: sock }),
    (err) => err instanceof SpindleError && err.code === "ERR_KEY_FILE_INVALID" && err.message.includes(files.keyFile),
  );
  assert.equal(existsSync(sock), false, "the admin socket was never opened");
  rmSync(dir, { recursive: true, force: true });
});
