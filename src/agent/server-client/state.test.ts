// The agent's state in its data dir: the agent SVID, its key (0600) and authority id round-trip;
// an expired SVID or one of another trust domain is ignored; a group/other-readable dir is
// tightened to 0700; the trust bundle round-trips.
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { createSilentLogger } from "../../common/logger.js";
import { createTestCa, issueTestSvid } from "../../../test/support/spiffe/index.js";
import { createAgentStateStore } from "./state.js";

const root = mkdtempSync(join(tmpdir(), "spindle-agent-state-"));
after(() => rmSync(root, { recursive: true, force: true }));
const logger = createSilentLogger();
const now = Date.now();
const ca = createTestCa({ trustDomain: "example.org", now });
const ID = "spiffe://example.org/spindle/agent/join_token/abc";

function agentSvid() {
  const s = issueTestSvid(ca, { spiffeId: ID, now });
  const privateKey = createPrivateKey(s.privateKeyPem);
  const publicKey = createPublicKey(privateKey);
  return {
    spiffeId: ID,
    chainDer: s.chainDer,
    key: { type: "ec-p256" as const, privateKey, publicKey, pkcs8Der: s.privateKeyDer, spkiDer: publicKey.export({ type: "spki", format: "der" }) },
    notBefore: now - 10_000,
    notAfter: now + 3600_000,
    authorityId: "auth-1",
  };
}

test("saves and loads the agent SVID, key and authority; refuses expired or foreign ones", () => {
  const dir = join(root, "a");
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755);
  const store = createAgentStateStore({ dir, logger });
  assert.equal(statSync(dir).mode & 0o777, 0o700, "the data dir is tightened to 0700");
  assert.equal(store.loadSvid("example.org", now), undefined);
  const svid = agentSvid();
  store.saveSvid(svid);
  assert.equal(statSync(join(dir, "agent-svid-key.pem")).mode & 0o777, 0o600);
  const loaded = store.loadSvid("example.org", now)!;
  assert.equal(loaded.spiffeId, ID);
  assert.equal(loaded.authorityId, "auth-1");
  assert.deepEqual(loaded.chainDer.map((d) => Buffer.from(d).toString("hex")), svid.chainDer.map((d) => d.toString("hex")));
  assert.ok(loaded.key.spkiDer.equals(svid.key.spkiDer));
  assert.equal(store.loadSvid("other.org", now), undefined, "another trust domain's SVID is not used");
  assert.equal(store.loadSvid("example.org", now + 2 * 3600_000), undefined, "an expired SVID is not used");
});

test("the trust bundle round-trips", () => {
  const store = createAgentStateStore({ dir: join(root, "b"), logger });
  assert.equal(store.loadBundle(), undefined);
  store.saveBundle([ca.der]);
  assert.deepEqual(store.loadBundle()!.map((d) => d.toString("hex")), [Buffer.from(ca.der).toString("hex")]);
});
