// CA rotation, then agent restart, with real processes. The agent is configured with
// `trust_bundle` (as conf/agent.yaml is) holding the authority current at bootstrap. The operator
// rotates the X.509 CA by hand (prepare, activate, taint the old one, revoke it once the agent
// renewed onto the new one), so the configured file now names only a revoked authority. A restart
// must verify the server with the data dir's bundle (docs/config/agent.md, `trust_bundle`), sync,
// and serve SVIDs signed by the new authority.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { pemToDers } from "../../../src/common/pem.js";
import { reportTiming, startFaultDomain, waitFor, WORKLOAD_ID, type FaultDomain } from "./harness.js";

let d: FaultDomain | undefined;
after(async () => d?.close());

interface AuthorityRow {
  kind: string;
  id: string;
  state: string;
  tainted: boolean;
}

test("after prepare/activate/taint/revoke of the X.509 CA, a restarted agent syncs and serves SVIDs of the new authority", { timeout: 150_000 }, async () => {
  d = await startFaultDomain({ serverLines: ["ca_ttl: 6h", "x509_svid_ttl: 1h"] });
  const dom = d;
  await dom.startAgent();
  const client = dom.client();
  await waitFor("first SVID", 30_000, async () => (await client.fetchX509Context()).svids.find((s) => s.spiffeId === WORKLOAD_ID));

  const authorities = async () => ((await dom.adminOk("authority", "show", "--output", "json")) as { authorities: AuthorityRow[] }).authorities.filter((a) => a.kind === "x509");
  const oldId = (await authorities()).find((a) => a.state === "active")!.id;
  await dom.adminOk("authority", "prepare", "--kind", "x509", "--output", "json");
  await dom.adminOk("authority", "activate", "--kind", "x509", "--output", "json");
  const newId = (await authorities()).find((a) => a.state === "active")!.id;
  assert.notEqual(newId, oldId);
  await dom.adminOk("authority", "taint", "--kind", "x509", "--id", oldId, "--output", "json");
  const agentDir = join(dom.dir, "agent");
  // The agent renews its own SVID onto the new authority once the sync reports the taint.
  await waitFor("agent SVID re-issued by the new authority", 60_000, () => (readFileSync(join(agentDir, "agent-svid-authority"), "utf8").trim() === newId ? true : undefined));
  await dom.adminOk("authority", "revoke", "--kind", "x509", "--id", oldId, "--output", "json");
  const storedBundle = () => pemToDers(readFileSync(join(agentDir, "bundle.pem"), "utf8"), "CERTIFICATE");
  const bootstrap = pemToDers(readFileSync(join(dom.dir, "bootstrap-bundle.pem"), "utf8"), "CERTIFICATE");
  await waitFor("the agent's data dir bundle no longer holds the revoked authority", 30_000, () => {
    const ders = storedBundle();
    return ders.length === 1 && !ders.some((x) => bootstrap.some((b) => Buffer.from(b).equals(Buffer.from(x)))) ? true : undefined;
  });
  const newCa = new X509Certificate(storedBundle()[0]!);

  assert.equal(await dom.agent!.stop("SIGTERM"), 0);
  const restartedAt = Date.now();
  const agent = await dom.startAgent();
  const client2 = dom.client();
  const svid = await waitFor("an SVID from the restarted agent", 30_000, async () => (await client2.fetchX509Context()).svids.find((s) => s.spiffeId === WORKLOAD_ID), 250);
  const firstSvidMs = Date.now() - restartedAt;
  assert.ok(new X509Certificate(svid.chainDer[0]!).verify(newCa.publicKey), "the SVID is signed by the new authority");
  assert.match(agent.output(), /verifying the server with the data dir's bundle/, "the log says which bundle it chose and why");
  assert.doesNotMatch(agent.output(), /unable to verify the first certificate/);
  reportTiming("ca-rotation-agent-restart", { firstSvidAfterRestartMs: firstSvidMs });
});
