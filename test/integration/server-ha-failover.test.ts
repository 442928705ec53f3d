// HA failover with real processes: two `spindle server run` replicas (own self-signed CAs) on one
// PostgreSQL database. An agent-like client attests on replica A and syncs; A dies by SIGKILL
// between sync pages, with the next page in flight; the client carries on at B with the agent
// SVID A issued (no re-attestation): sync, batch sign, renew, sync and sign again. No entry is
// missing, and SVIDs of A and of B validate against either replica's bundle.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Client } from "@connectrpc/connect";
import { createJoinTokenAgentAttestor } from "../../src/agent/nodeattestors/join-token/index.js";
import { createAdminClient, type AdminClient } from "../../src/ca/admin/index.js";
import { agentClient, attest, makeCsr } from "../support/agentapi-harness.js";
import { joinTokenAgentId } from "../../src/ca/nodeattestors/index.js";
import { pemToDers } from "../../src/common/pem.js";
import type { AgentService, SyncEntriesResponse } from "../../src/gen/spindle/agent/v1/agent_pb.js";
import { createBundle, createBundleSet, parseTrustDomain, validateX509Svid, type BundleSet } from "../../src/spiffe/index.js";
import { startServerProcess, type ServerProcess } from "./helpers/cli-process.js";
import { freePort } from "./helpers/ports.js";
import { startPostgres, type TempPostgres } from "./helpers/postgres.js";

const TD = "example.org";
const ENTRIES = 600; // two sync pages (at most 500 each): A dies between them
const dir = mkdtempSync(join(tmpdir(), "spindle-ha-failover-"));
let pg: TempPostgres | undefined;
const procs: ServerProcess[] = [];

interface Replica {
  proc: ServerProcess;
  port: number;
  admin: AdminClient;
}

async function startReplica(name: string, url: string): Promise<Replica> {
  const port = await freePort();
  const socket = join(dir, `${name}-private`, "admin.sock");
  mkdirSync(join(dir, `${name}-private`), { mode: 0o700 });
  const config = join(dir, `${name}.yaml`);
  writeFileSync(
    config,
    [
      `trust_domain: ${TD}`,
      `server_id: ${name}`,
      `data_dir: ${join(dir, name)}`,
      `bind_address: 127.0.0.1:${port}`,
      `admin_socket: ${socket}`,
      `datastore: ${url}`,
      "key_manager: disk",
      "health_address: 127.0.0.1:0",
      "peer_refresh_interval: 1s",
      "log_level: warn",
    ].join("\n") + "\n",
  );
  const proc = await startServerProcess(["--config", config], 30_000);
  procs.push(proc);
  return { proc, port, admin: createAdminClient({ socketPath: socket }) };
}

async function bundleOf(r: Replica): Promise<{ pem: string; set: BundleSet }> {
  const pem = (await r.admin.getBundle({})).pem;
  return { pem, set: createBundleSet([createBundle({ trustDomain: parseTrustDomain(TD), x509Authorities: pemToDers(pem, "CERTIFICATE") })]) };
}

async function eventually(ms: number, what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Follows sync pages from `pageToken` to the end on one replica. */
async function syncRest(client: Client<typeof AgentService>, pageToken: string, pages: SyncEntriesResponse[]): Promise<void> {
  let token = pageToken;
  do {
    const page = await client.syncEntries({ pageToken: token });
    pages.push(page);
    token = page.nextPageToken;
  } while (token !== "");
}

before(async () => {
  pg = await startPostgres();
});

after(async () => {
  for (const p of procs) await p.stop();
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("SIGKILL of replica A mid-sync: the agent continues on B without re-attesting; nothing lost; SVIDs of both replicas validate against either bundle", { timeout: 60_000 }, async () => {
  const url = await pg!.createDatabase("failover");
  const [a, b] = await Promise.all([startReplica("replica-a", url), startReplica("replica-b", url)]);
  // Each replica has its own self-signed CA; each publishes both within the peer refresh interval.
  await eventually(5_000, "both bundles carry both replicas' CAs", async () => {
    const [pa, pb] = await Promise.all([bundleOf(a), bundleOf(b)]);
    return pemToDers(pa.pem, "CERTIFICATE").length === 2 && pemToDers(pb.pem, "CERTIFICATE").length === 2;
  });
  const bundleA = await bundleOf(a);
  const authorityOwner = new Map(
    [...(await a.admin.showAuthorities({})).authorities, ...(await b.admin.showAuthorities({})).authorities].filter((x) => x.kind === "x509").map((x) => [x.id, x.serverId]),
  );

  const { token } = await a.admin.generateJoinToken({});
  const agentId = joinTokenAgentId(parseTrustDomain(TD), token);
  const created = await a.admin.batchCreateEntry({
    entries: Array.from({ length: ENTRIES }, (_, i) => ({ spiffeId: `spiffe://${TD}/w/${i}`, parentId: agentId, selectors: [{ type: "unix", value: `uid:${i}` }] })),
  });
  assert.ok(created.results.every((r) => r.status?.code === ""), "all entries created on A");
  const entryIds = created.results.map((r) => r.entry!.id).sort();
  const entryById = new Map(created.results.map((r) => [r.entry!.id, r.entry!]));

  // Attest, sync the first page and get two SVIDs signed, all on A.
  const attested = await attest(agentClient(a.port, bundleA.pem), createJoinTokenAgentAttestor({ token }));
  const agentSvid = { chainDer: attested.svid.svid!.certChain, privateKey: attested.privateKey };
  assert.equal(authorityOwner.get(attested.svid.svid!.authorityId), "replica-a");
  const onA = agentClient(a.port, bundleA.pem, agentSvid);
  const pages: SyncEntriesResponse[] = [await onA.syncEntries({})];
  assert.equal(pages[0]!.revisions.length, 500);
  assert.notEqual(pages[0]!.nextPageToken, "");
  const sign = async (client: Client<typeof AgentService>, ids: readonly string[]) => {
    const csrs = await Promise.all(ids.map((id) => makeCsr({ uris: [entryById.get(id)!.spiffeId] })));
    const res = await client.batchSignX509Svid({ requests: ids.map((entryId, i) => ({ entryId, csr: csrs[i]!.der })) });
    for (const r of res.results) assert.equal(r.status!.code, "", r.status!.message);
    return res.results.map((r) => r.svid!);
  };
  const signedByA = await sign(onA, entryIds.slice(0, 2));

  // The next page is asked of A, and A is killed right away.
  // Whether A answered before dying does not matter: an unanswered page is asked of B.
  const inFlight = onA.syncEntries({ pageToken: pages[0]!.nextPageToken }).catch(() => undefined);
  a.proc.child.kill("SIGKILL");
  const died = await new Promise<NodeJS.Signals | null>((resolve) => a.proc.child.once("exit", (_code, signal) => resolve(signal)));
  assert.equal(died, "SIGKILL");

  // The agent fails over to B with the SVID A issued; the page A may not have answered is asked again.
  const onB = agentClient(b.port, bundleA.pem, agentSvid);
  const second = (await inFlight) ?? (await onB.syncEntries({ pageToken: pages[0]!.nextPageToken }));
  pages.push(second);
  if (second.nextPageToken !== "") await syncRest(onB, second.nextPageToken, pages);
  assert.deepEqual(pages.flatMap((p) => p.revisions.map((r) => r.id)).sort(), entryIds, "no entry is lost across the failover");
  const full: SyncEntriesResponse[] = [];
  await syncRest(onB, "", full);
  assert.deepEqual(full.flatMap((p) => p.revisions.map((r) => r.id)).sort(), entryIds, "B's own sync has every entry created before the kill");

  const signedByB = await sign(onB, entryIds.slice(2, 4));
  const renewCsr = await makeCsr();
  const renewed = (await onB.renewAgent({ csr: renewCsr.der })).result!.svid!;
  assert.equal(renewed.spiffeId, agentId, "renewed on B, same agent identity (no re-attestation)");
  const bundleB = await bundleOf(b);
  const onBRenewed = agentClient(b.port, bundleB.pem, { chainDer: renewed.certChain, privateKey: renewCsr.privateKey });
  const afterRenew: SyncEntriesResponse[] = [];
  await syncRest(onBRenewed, "", afterRenew);
  assert.equal(afterRenew.flatMap((p) => p.revisions).length, ENTRIES);
  const signedAfterRenew = await sign(onBRenewed, entryIds.slice(4, 5));

  const now = Date.now();
  for (const svid of [...signedByA, attested.svid.svid!]) assert.equal(authorityOwner.get(svid.authorityId), "replica-a");
  for (const svid of [...signedByB, ...signedAfterRenew, renewed]) assert.equal(authorityOwner.get(svid.authorityId), "replica-b");
  for (const svid of [...signedByA, ...signedByB, ...signedAfterRenew, attested.svid.svid!, renewed]) {
    for (const [name, bundle] of [["A", bundleA.set], ["B", bundleB.set]] as const) {
      assert.equal(validateX509Svid(svid.certChain, bundle, { now }).spiffeId.toString(), svid.spiffeId, `${svid.spiffeId} validates against ${name}'s bundle`);
    }
  }
});
