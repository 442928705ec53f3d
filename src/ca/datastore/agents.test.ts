// The datastore as the agent API's AgentStore, on SQLite in a temp dir: attestation keeps bans
// and creation time, renewal is a compare-and-set on the serial, eviction and bans are reported.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { createFakeClock } from "../../../test/support/fake-clock.js";
import { SpindleError } from "../../common/errors.js";
import { createDatastore, type Datastore } from "./index.js";

const dir = mkdtempSync(join(tmpdir(), "spindle-ds-agents-"));
const clock = createFakeClock(1_700_000_000_000);
let ds: Datastore;
const ID = "spiffe://example.org/spindle/agent/join_token/abc";

before(async () => {
  ds = await createDatastore({ location: { kind: "sqlite", path: join(dir, "ds.sqlite3") }, clock });
});
after(async () => {
  await ds.close();
  rmSync(dir, { recursive: true, force: true });
});

const code = (c: string) => (err: unknown) => SpindleError.is(err, c as Parameters<typeof SpindleError.is>[1]);

test("attest, renew (compare-and-set), ban survives re-attestation, evict", async () => {
  assert.equal(await ds.getAgent(ID), undefined);
  const a = await ds.recordAttestation({ spiffeId: ID, attestor: "join_token", selectors: [{ type: "join_token", value: "abc" }], serial: "01", expiresAt: 5000, canReattest: false }, 100);
  assert.deepEqual(
    { ...a, selectors: [...a.selectors] },
    { spiffeId: ID, attestor: "join_token", selectors: [{ type: "join_token", value: "abc" }], serial: "01", previousSerial: "", expiresAt: 5000, canReattest: false, banned: false, createdAt: 100, updatedAt: 100 },
  );
  const r = await ds.recordRenewal(ID, "01", "02", 9000, 200);
  assert.equal(r.serial, "02");
  assert.equal(r.previousSerial, "01");
  assert.equal(r.expiresAt, 9000);
  await assert.rejects(ds.recordRenewal(ID, "01", "03", 9000, 300), code("ERR_AGENT_NOT_ATTESTED"));

  assert.equal((await ds.setBanned(ID, true, 400)).banned, true);
  const again = await ds.recordAttestation({ spiffeId: ID, attestor: "x509pop", selectors: [], serial: "04", expiresAt: 10_000, canReattest: true }, 500);
  assert.equal(again.banned, true, "a re-attestation never lifts a ban");
  assert.equal(again.createdAt, 100);
  assert.equal(again.previousSerial, "");
  assert.equal(again.attestor, "x509pop");
  assert.deepEqual((await ds.listAgents()).map((x) => x.spiffeId), [ID]);

  // A banned agent is not deleted (the ban would go with it), decided by the delete itself.
  await assert.rejects(ds.deleteAgent(ID), code("ERR_AGENT_EVICT_BANNED"));
  assert.equal((await ds.getAgent(ID))?.banned, true);
  await ds.setBanned(ID, false, 550);
  await ds.deleteAgent(ID);
  assert.equal(await ds.getAgent(ID), undefined);
  await assert.rejects(ds.deleteAgent(ID), code("ERR_NOT_FOUND"));
  await assert.rejects(ds.setBanned(ID, false, 600), code("ERR_NOT_FOUND"));
  await assert.rejects(ds.recordRenewal(ID, "04", "05", 1, 700), code("ERR_AGENT_NOT_ATTESTED"));
});
