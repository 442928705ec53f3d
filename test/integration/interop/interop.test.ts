// Interop with the official SPIFFE SDKs: go-spiffe (X509Source, JWTSource + validation, bundle
// watch, and mTLS between two go-spiffe services with tlsconfig.AuthorizeID) and py-spiffe. Every
// identity gets its own Workload API socket (all callers share this test's uid). The Go program is
// built once per run by sdk-programs.ts (GOFLAGS=-mod=mod, modules from the proxy) and py-spiffe is installed with pip
// into bin/venv; if either download fails, the suite fails.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startWorkloadApi, type WorkloadApiHarness } from "../../support/workload-api-harness.js";
import { FakeIdentitySource, TEST_FED_TD, createFixedAttestor } from "../../support/fake-identity-source.js";
import { createTestCa } from "../../support/spiffe/test-ca.js";
import { createTestBundle } from "../../support/spiffe/test-bundle.js";
import { assertGoFetch, buildSdkPrograms, jsonLines, mustRun, run, startLines, type SdkPrograms } from "./sdk-programs.js";

const SERVICE_A = "spiffe://example.org/service-a";
const SERVICE_B = "spiffe://example.org/service-b";
const INTRUDER = "spiffe://example.org/intruder";

describe("interop with the official SPIFFE SDKs", { timeout: 900_000 }, () => {
  let dir: string;
  let sdk: SdkPrograms;
  let source: FakeIdentitySource;
  const apis = new Map<string, WorkloadApiHarness>();
  const endpoint = (id: string) => ({ SPIFFE_ENDPOINT_SOCKET: `unix://${apis.get(id)!.socketPath}` });

  before(async () => {
    // Build and install first: a download failure fails the suite (never a skip).
    sdk = await buildSdkPrograms("fake-source");

    dir = mkdtempSync(join(tmpdir(), "spindle-interop-"));
    source = new FakeIdentitySource();
    source.grant("test:svc:a", SERVICE_A, { hint: "a", federatesWith: [TEST_FED_TD] });
    source.grant("test:svc:b", SERVICE_B);
    source.grant("test:svc:intruder", INTRUDER);
    for (const [id, selector] of [[SERVICE_A, "test:svc:a"], [SERVICE_B, "test:svc:b"], [INTRUDER, "test:svc:intruder"]] as const) {
      const sub = join(dir, selector.replaceAll(":", "-"));
      apis.set(id, await startWorkloadApi({ source, attestor: createFixedAttestor([selector]), dir: sub }));
    }
  });

  after(async () => {
    for (const api of apis.values()) await api.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("go-spiffe: X509Source, JWTSource and ValidateJWTSVID", async () => {
    const r = await mustRun(sdk.goBin, ["fetch", "-audience", "interop-aud"], { env: endpoint(SERVICE_A) });
    // A test CA with an intermediate: leaf + intermediate, verified up to the root.
    assertGoFetch(r.stdout, { spiffeId: SERVICE_A, chainLen: 2, verifiedChainLen: 3, hint: "a" });
  });

  it("go-spiffe: the bundle watch receives the initial bundles and each change", async () => {
    const watch = startLines(sdk.goBin, ["watch-bundles", "-count", "2"], endpoint(SERVICE_A));
    try {
      assert.deepEqual(await watch.next(), { event: "jwt-bundles", bundles: ["spiffe://example.org=1", `spiffe://${TEST_FED_TD}=1`] });
      assert.deepEqual(await watch.next(), { event: "x509-bundles", n: 1, bundles: ["spiffe://example.org=1", `spiffe://${TEST_FED_TD}=1`] });
      const newFedRoot = createTestCa({ trustDomain: TEST_FED_TD });
      source.setFederatedBundle(TEST_FED_TD, createTestBundle({ cas: [source.trust.fedRoot, newFedRoot], jwtAuthorities: [source.trust.fedJwt] }));
      assert.deepEqual(await watch.next(), { event: "x509-bundles", n: 2, bundles: ["spiffe://example.org=1", `spiffe://${TEST_FED_TD}=2`] });
    } finally {
      watch.child.kill();
    }
  });

  it("go-spiffe mTLS: service-a calls service-b with AuthorizeID; a third identity is refused", async () => {
    const server = startLines(sdk.goBin, ["mtls-server", "-allow", SERVICE_A], endpoint(SERVICE_B));
    try {
      const listening = await server.next();
      assert.equal(listening["event"], "listening", server.stderr());
      const addr = String(listening["addr"]);

      const ok = await run(sdk.goBin, ["mtls-client", "-connect", addr, "-server-id", SERVICE_B], { env: endpoint(SERVICE_A) });
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.deepEqual(jsonLines(ok.stdout), [{ event: "reply", reply: `hello ${SERVICE_A}, you said ping from ${SERVICE_A}` }]);
      assert.deepEqual(await server.next(), { event: "served", peer: SERVICE_A });

      const refused = await run(sdk.goBin, ["mtls-client", "-connect", addr, "-server-id", SERVICE_B], { env: endpoint(INTRUDER) });
      assert.notEqual(refused.code, 0, "the intruder must not get an answer");
      assert.equal(jsonLines(refused.stdout)[0]?.["event"], "error");
      const serverSide = await server.next();
      assert.equal(serverSide["event"], "refused");
      assert.match(String(serverSide["error"]), new RegExp(INTRUDER.replaceAll("/", "\\/")));

      const wrongServer = await run(sdk.goBin, ["mtls-client", "-connect", addr, "-server-id", INTRUDER], { env: endpoint(SERVICE_A) });
      assert.notEqual(wrongServer.code, 0, "the client refuses a server with another ID");
      assert.match(String(jsonLines(wrongServer.stdout)[0]?.["error"]), /unexpected ID/);
      await server.next();
    } finally {
      server.child.kill();
    }
  });

  it("py-spiffe: fetches the SVID, checks the SPIFFE ID, the chain and a JWT-SVID", async () => {
    const r = await mustRun(sdk.python, [sdk.fetchSvidPy, SERVICE_A, "py-aud"], { env: endpoint(SERVICE_A) });
    assert.deepEqual(JSON.parse(r.stdout.trim()), {
      spiffe_id: SERVICE_A,
      id_matches: true,
      chain_len: 2,
      chain_verified_to_bundle: true,
      key_matches_leaf: true,
      svid_count: 1,
      trust_domains: ["example.org", TEST_FED_TD],
      jwt_sub: SERVICE_A,
      jwt_audience: ["py-aud"],
    });
  });
});
