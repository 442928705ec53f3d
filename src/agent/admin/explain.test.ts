// explainPid: served identities, pending SVIDs, the closest entry's missing selectors, failed
// attestation and an agent that has not synced yet, each with its verdict.
import assert from "node:assert/strict";
import { test } from "node:test";
import { spindleError } from "../../common/errors.js";
import type { Selector } from "../../spiffe/selector.js";
import type { AgentEntry } from "../cache/server-client.js";
import { explainPid, type ExplainDeps } from "./explain.js";

const entry = (id: string, spiffeId: string, selectors: string[]): AgentEntry => ({
  id,
  spiffeId,
  selectors: selectors.map((s) => ({ type: s.slice(0, s.indexOf(":")), value: s.slice(s.indexOf(":") + 1) })),
  revision: 1,
  hint: "",
  dnsNames: [],
  federatesWith: [],
  x509SvidTtl: 0,
  jwtSvidTtl: 0,
});
const ENTRIES = [
  entry("e1", "spiffe://example.org/web", ["unix:uid:1000", "unix:path:/usr/bin/web"]),
  entry("e2", "spiffe://example.org/db", ["unix:uid:1001"]),
  entry("e3", "spiffe://example.org/api", ["unix:uid:1000"]),
];

function deps(selectors: string[], served: string[], ready = true): ExplainDeps {
  return {
    attestor: { attest: async () => selectors.map((s) => ({ type: "unix", value: s.slice(5) })) },
    entries: () => ENTRIES,
    identitiesFor: (_s: readonly Selector[]) => ENTRIES.filter((e) => served.includes(e.id)).map((e) => ({ entryId: e.id, spiffeId: e.spiffeId, notAfter: 0 })),
    ready: () => ready,
  };
}

test("a served process: identities, matching entries first, the others with what they miss", async () => {
  const x = await explainPid(7, deps(["unix:uid:1000"], ["e3"]));
  assert.deepEqual(x.identities.map((i) => i.spiffeId), ["spiffe://example.org/api"]);
  assert.deepEqual(x.entries.map((e) => [e.entryId, e.missing, e.svid]), [
    ["e3", [], "served"],
    ["e2", ["unix:uid:1001"], undefined],
    ["e1", ["unix:path:/usr/bin/web"], undefined],
  ]);
  assert.equal(x.verdict, "pid 7 is served spiffe://example.org/api (default: spiffe://example.org/api)");
});

test("no match: the verdict names the closest entry and its missing selector", async () => {
  const x = await explainPid(8, deps(["unix:uid:65534"], []));
  assert.deepEqual(x.identities, []);
  assert.match(x.verdict, /^pid 8 gets no identity \(PermissionDenied\): no entry matches; closest is spiffe:\/\/example\.org\/api \(entry e3\), missing selector unix:uid:1000$/);
});

test("a match whose SVID is not signed yet, an agent not synced yet, an unattestable pid", async () => {
  assert.match((await explainPid(9, deps(["unix:uid:1001"], []))).verdict, /matches spiffe:\/\/example\.org\/db, whose SVID is not signed yet/);
  assert.match((await explainPid(9, deps(["unix:uid:1001"], [], false))).verdict, /has not completed its first sync/);
  const failed = await explainPid(10, {
    ...deps([], []),
    attestor: { attest: async () => Promise.reject(spindleError("ERR_WORKLOAD_ATTESTATION", "pid 10 has exited")) },
  });
  assert.deepEqual(failed.attestationError, { code: "ERR_WORKLOAD_ATTESTATION", message: "pid 10 has exited" });
  assert.match(failed.verdict, /cannot be attested/);
});
