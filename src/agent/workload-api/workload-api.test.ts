// The Workload API over a real temp Unix socket (the shared grpc-js socket server), with a fake
// IdentitySource built from test certificates: every RPC and every status rule of
// docs/design/wire-facts.md, "Workload API".
import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  JWTSVIDRequestSchema,
  ValidateJWTSVIDRequestSchema,
  WITBundlesRequestSchema,
  WITSVIDRequestSchema,
  X509BundlesRequestSchema,
  JWTBundlesRequestSchema,
  X509SVIDRequestSchema,
  type JWTBundlesResponse,
  type X509BundlesResponse,
  type X509SVIDResponse,
} from "../../gen/workload_pb.js";
import { createFakeClock } from "../../../test/support/fake-clock.js";
import { createTestBundle } from "../../../test/support/spiffe/test-bundle.js";
import { signRawTestJws, signTestJwtSvid } from "../../../test/support/spiffe/test-jwt.js";
import { createWorkloadApiClient, type WorkloadApiClient } from "../../workload-client/index.js";
import { FakeIdentitySource, TEST_FED_TD, createFixedAttestor } from "../../../test/support/fake-identity-source.js";
import { collect, grpcCodeOf, header, rawWorkloadClient, startWorkloadApi, type RawClient, type WorkloadApiHarness } from "../../../test/support/workload-api-harness.js";

const A = "spiffe://example.org/service-a";
const A2 = "spiffe://example.org/service-a-admin";
const S = grpc.status;
const tick = () => new Promise((r) => setTimeout(r, 30));

describe("Workload API over a Unix socket", () => {
  let source: FakeIdentitySource;
  let api: WorkloadApiHarness;
  let client: WorkloadApiClient;
  let raw: RawClient;

  before(async () => {
    source = new FakeIdentitySource();
    source.grant("test:app:a", A, { hint: "primary", federatesWith: [TEST_FED_TD] });
    source.grant("test:app:a", A2, { hint: "admin" });
    api = await startWorkloadApi({ source, attestor: createFixedAttestor(["test:app:a", "unix:uid:0"]) });
    client = createWorkloadApiClient({ address: `unix://${api.socketPath}` });
    raw = rawWorkloadClient(api.socketPath);
  });
  after(async () => {
    client.close();
    raw.close();
    await api.close();
  });

  it("refuses calls without the security header, or with another value, with InvalidArgument", async () => {
    for (const md of [new grpc.Metadata(), header("false")]) {
      const s = collect(raw["fetchX509SVID"]!(create(X509SVIDRequestSchema), md) as grpc.ClientReadableStream<X509SVIDResponse>);
      const err = await s.status;
      assert.equal(err?.code, S.INVALID_ARGUMENT);
      assert.match(err.details, /workload\.spiffe\.io/);
      assert.equal(s.messages.length, 0);
    }
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      (raw["fetchJWTSVID"] as (...a: unknown[]) => void)(create(JWTSVIDRequestSchema, { audience: ["x"] }), new grpc.Metadata(), (e: grpc.ServiceError | null) => resolve(e)),
    );
    assert.equal(err?.code, S.INVALID_ARGUMENT);
  });

  it("FetchX509SVID sends every SVID at once: chain leaf first without root, PKCS#8 key, own bundle, hints, federated bundles", async () => {
    const ctx = await client.fetchX509Context();
    assert.deepEqual(ctx.svids.map((s) => s.spiffeId), [A, A2]);
    assert.deepEqual(ctx.svids.map((s) => s.hint), ["primary", "admin"]);
    const svid = ctx.svids[0]!;
    assert.equal(svid.chainDer.length, 2, "leaf + intermediate");
    const leaf = new X509Certificate(svid.chainDer[0]!);
    assert.match(leaf.subjectAltName ?? "", new RegExp(`URI:${A}`));
    assert.ok(leaf.checkIssued(new X509Certificate(svid.chainDer[1]!)));
    assert.ok(!svid.chainDer.some((d) => d.equals(source.trust.root.der)), "the root is never in x509_svid");
    const key = createPrivateKey({ key: svid.privateKeyPkcs8Der, format: "der", type: "pkcs8" });
    assert.ok(createPublicKey(key).equals(leaf.publicKey), "the key belongs to the leaf");
    assert.deepEqual(svid.bundleDer, [source.trust.root.der]);
    assert.deepEqual([...ctx.federatedBundles.keys()], [`spiffe://${TEST_FED_TD}`]);
    assert.deepEqual(ctx.federatedBundles.get(`spiffe://${TEST_FED_TD}`), [source.trust.fedRoot.der]);
  });

  it("FetchX509SVID pushes the complete state on rotation and on federation changes, and nothing for unrelated changes", async () => {
    const s = collect(raw["fetchX509SVID"]!(create(X509SVIDRequestSchema), header()) as grpc.ClientReadableStream<X509SVIDResponse>);
    const first = await s.next();
    source.rotate(A2);
    const second = await s.next();
    assert.deepEqual(second.svids.map((x) => x.spiffeId), [A, A2]);
    assert.deepEqual(second.svids[0]!.x509Svid, first.svids[0]!.x509Svid);
    assert.notDeepEqual(second.svids[1]!.x509Svid, first.svids[1]!.x509Svid);
    source.grant("test:other", "spiffe://example.org/unrelated");
    await tick();
    assert.equal(s.messages.length, 2, "a change that does not concern this caller sends nothing");
    source.setFederatedBundle(TEST_FED_TD, undefined);
    const third = await s.next();
    assert.deepEqual(third.federatedBundles, {}, "an empty map drops the federated bundles");
    source.setFederatedBundle(TEST_FED_TD, createTestBundle({ cas: [source.trust.fedRoot], jwtAuthorities: [source.trust.fedJwt] }));
    await s.next();
    assert.equal(api.service.openStreams(), 1);
  });

  it("FetchX509Bundles and FetchJWTBundles send own + federated bundles, and again only when their content changes", async () => {
    const x = collect(raw["fetchX509Bundles"]!(create(X509BundlesRequestSchema), header()) as grpc.ClientReadableStream<X509BundlesResponse>);
    const j = collect(raw["fetchJWTBundles"]!(create(JWTBundlesRequestSchema), header()) as grpc.ClientReadableStream<JWTBundlesResponse>);
    const x1 = await x.next();
    const j1 = await j.next();
    assert.deepEqual(Object.keys(x1.bundles).sort(), ["spiffe://example.org", `spiffe://${TEST_FED_TD}`]);
    assert.deepEqual(Buffer.from(x1.bundles["spiffe://example.org"]!), source.trust.root.der);
    const jwks = JSON.parse(Buffer.from(j1.bundles["spiffe://example.org"]!).toString()) as { keys: { kid: string; kty: string }[] };
    assert.deepEqual(jwks.keys.map((k) => k.kid), [source.trust.jwt.kid]);
    const fedJwks = JSON.parse(Buffer.from(j1.bundles[`spiffe://${TEST_FED_TD}`]!).toString()) as { keys: { kid: string }[] };
    assert.deepEqual(fedJwks.keys.map((k) => k.kid), [source.trust.fedJwt.kid]);

    source.rotate(A);
    await tick();
    assert.equal(x.messages.length, 1, "an SVID rotation does not touch bundle streams");
    assert.equal(j.messages.length, 1);

    const extraRoot = (await import("../../../test/support/spiffe/test-ca.js")).createTestCa({ trustDomain: "example.org" });
    source.setOwnBundle(createTestBundle({ cas: [source.trust.root, extraRoot], jwtAuthorities: [source.trust.jwt] }));
    const x2 = await x.next();
    assert.equal(x2.bundles["spiffe://example.org"]!.length, source.trust.root.der.length + extraRoot.der.length);
    await tick();
    assert.equal(j.messages.length, 1, "the JWT bundle did not change, so the JWT stream stays quiet");
    source.setOwnBundle(createTestBundle({ cas: [source.trust.root], jwtAuthorities: [source.trust.jwt] }));
    await x.next();
  });

  it("FetchJWTSVID: InvalidArgument without audience, one SVID per identity, or only the requested one", async () => {
    await assert.rejects(client.fetchJwtSvids([]), (e) => grpcCodeOf(e) === S.INVALID_ARGUMENT && /audience/.test((e as Error).message));
    const all = await client.fetchJwtSvids(["aud-1"]);
    assert.deepEqual(all.map((s) => [s.spiffeId, s.hint]), [[A, "primary"], [A2, "admin"]]);
    const one = await client.fetchJwtSvids(["aud-1"], A2);
    assert.deepEqual(one.map((s) => s.spiffeId), [A2]);
    const claims = JSON.parse(Buffer.from(one[0]!.svid.split(".")[1]!, "base64url").toString()) as { sub: string; aud: unknown };
    assert.equal(claims.sub, A2);
    await assert.rejects(client.fetchJwtSvids(["aud-1"], "spiffe://example.org/not-mine"), (e) => grpcCodeOf(e) === S.PERMISSION_DENIED);
    await assert.rejects(client.fetchJwtSvids(["aud-1"], "not a spiffe id"), (e) => grpcCodeOf(e) === S.INVALID_ARGUMENT);
  });

  it("ValidateJWTSVID accepts tokens of the own and federated domains and returns sub and every claim", async () => {
    const [own] = await client.fetchJwtSvids(["svc-b"], A);
    const res = await client.validateJwtSvid("svc-b", own!.svid);
    assert.equal(res.spiffeId, A);
    assert.equal(res.claims?.["sub"], A);
    assert.equal(res.claims?.["aud"], "svc-b");
    assert.equal(typeof res.claims?.["exp"], "number");

    const fedToken = await signTestJwtSvid(source.trust.fedJwt, { sub: `spiffe://${TEST_FED_TD}/caller`, aud: ["svc-b", "other"], claims: { custom: { nested: [1, "x"] } } });
    const fed = await client.validateJwtSvid("svc-b", fedToken);
    assert.equal(fed.spiffeId, `spiffe://${TEST_FED_TD}/caller`);
    assert.deepEqual(fed.claims?.["custom"], { nested: [1, "x"] });
    assert.deepEqual(fed.claims?.["aud"], ["svc-b", "other"]);
  });

  it("ValidateJWTSVID fails with InvalidArgument and the reason", async () => {
    const [own] = await client.fetchJwtSvids(["svc-b"], A);
    await assert.rejects(client.validateJwtSvid("someone-else", own!.svid), (e) => grpcCodeOf(e) === S.INVALID_ARGUMENT && /aud/.test((e as Error).message));
    const foreign = await signTestJwtSvid(source.trust.fedJwt, { sub: "spiffe://unknown.test/x", aud: "svc-b" });
    await assert.rejects(client.validateJwtSvid("svc-b", foreign), (e) => grpcCodeOf(e) === S.INVALID_ARGUMENT && /no bundle/.test((e as Error).message));
    await assert.rejects(client.validateJwtSvid("svc-b", "garbage"), (e) => grpcCodeOf(e) === S.INVALID_ARGUMENT);
    await assert.rejects(client.validateJwtSvid("", own!.svid), (e) => grpcCodeOf(e) === S.INVALID_ARGUMENT && /audience/.test((e as Error).message));
    const expired = await signTestJwtSvid(source.trust.jwt, { sub: A, aud: "svc-b", now: Date.now() - 3600_000 });
    await assert.rejects(client.validateJwtSvid("svc-b", expired), (e) => grpcCodeOf(e) === S.INVALID_ARGUMENT && /expired/.test((e as Error).message));
    const [h, p] = own!.svid.split(".").map((part) => Buffer.from(part, "base64url").toString("utf8"));
    const twoSubs = signRawTestJws(source.trust.jwt, h!, p!.replace(/^\{/, `{"sub":"${A2}",`));
    await assert.rejects(client.validateJwtSvid("svc-b", twoSubs), (e) => grpcCodeOf(e) === S.INVALID_ARGUMENT && /the payload has the member "sub" more than once/.test((e as Error).message));
  });

  it("the WIT RPCs answer Unimplemented", async () => {
    for (const [m, req] of [["fetchWITSVID", create(WITSVIDRequestSchema)], ["fetchWITBundles", create(WITBundlesRequestSchema)]] as const) {
      const err = await collect(raw[m]!(req, header()) as grpc.ClientReadableStream<unknown>).status;
      assert.equal(err?.code, S.UNIMPLEMENTED, m);
      assert.match(err.details, /not supported/);
    }
  });
});

describe("Workload API status rules", () => {
  it("answers Unavailable before the first sync, then serves once ready", async () => {
    const source = new FakeIdentitySource({ ready: false });
    source.grant("test:app:b", "spiffe://example.org/b");
    const api = await startWorkloadApi({ source, attestor: createFixedAttestor(["test:app:b"]) });
    const client = createWorkloadApiClient({ address: api.socketPath });
    try {
      await assert.rejects(client.fetchX509Context(), (e) => grpcCodeOf(e) === S.UNAVAILABLE);
      await assert.rejects(client.fetchX509Bundles(), (e) => grpcCodeOf(e) === S.UNAVAILABLE);
      await assert.rejects(client.fetchJwtSvids(["a"]), (e) => grpcCodeOf(e) === S.UNAVAILABLE);
      source.markReady();
      assert.equal((await client.fetchX509Context()).svids[0]?.spiffeId, "spiffe://example.org/b");
    } finally {
      client.close();
      await api.close();
    }
  });

  it("a caller with no entry gets PermissionDenied on every RPC and no key material", async () => {
    const source = new FakeIdentitySource();
    source.grant("unix:uid:4242", "spiffe://example.org/someone-else");
    const api = await startWorkloadApi({ source, attestor: createFixedAttestor(["unix:uid:1000"]) });
    const raw = rawWorkloadClient(api.socketPath);
    const client = createWorkloadApiClient({ address: api.socketPath });
    try {
      for (const m of ["fetchX509SVID", "fetchX509Bundles", "fetchJWTBundles"]) {
        const s = collect(raw[m]!(create(X509SVIDRequestSchema), header()) as grpc.ClientReadableStream<unknown>);
        assert.equal((await s.status)?.code, S.PERMISSION_DENIED, m);
        assert.equal(s.messages.length, 0, `${m} sent nothing`);
      }
      await assert.rejects(client.fetchJwtSvids(["a"]), (e) => grpcCodeOf(e) === S.PERMISSION_DENIED);
      const token = await signTestJwtSvid(source.trust.jwt, { sub: "spiffe://example.org/x", aud: "a" });
      await assert.rejects(client.validateJwtSvid("a", token), (e) => grpcCodeOf(e) === S.PERMISSION_DENIED);
      assert.equal(source.mints, 0);
    } finally {
      raw.close();
      client.close();
      await api.close();
    }
  });

  it("ends a stream with PermissionDenied when the workload loses all its entries", async () => {
    const source = new FakeIdentitySource();
    source.grant("test:app:c", "spiffe://example.org/c");
    const api = await startWorkloadApi({ source, attestor: createFixedAttestor(["test:app:c"]) });
    const raw = rawWorkloadClient(api.socketPath);
    try {
      const s = collect(raw["fetchX509SVID"]!(create(X509SVIDRequestSchema), header()) as grpc.ClientReadableStream<X509SVIDResponse>);
      await s.next();
      assert.equal(source.listenerCount, 1);
      source.revoke("test:app:c");
      assert.equal((await s.status)?.code, S.PERMISSION_DENIED);
      assert.equal(s.messages.length, 1);
      assert.equal(source.listenerCount, 0, "the ended stream unsubscribed");
      assert.equal(api.service.openStreams(), 0);
    } finally {
      raw.close();
      await api.close();
    }
  });

  it("an attestation failure ends the call with Unauthenticated, never with an identity", async () => {
    const source = new FakeIdentitySource();
    source.grant("test:app:d", "spiffe://example.org/d");
    const attestor = { attest: async () => Promise.reject(new Error("process 123 exited during attestation")) };
    const api = await startWorkloadApi({ source, attestor });
    const client = createWorkloadApiClient({ address: api.socketPath });
    try {
      await assert.rejects(client.fetchX509Context(), (e) => grpcCodeOf(e) === S.UNAUTHENTICATED && /exited/.test((e as Error).message));
    } finally {
      client.close();
      await api.close();
    }
  });

  it("keeps hints unique within a response; the first identity keeps a repeated hint", async () => {
    const source = new FakeIdentitySource();
    source.grant("test:app:e", "spiffe://example.org/e1", { hint: "same" });
    source.grant("test:app:e", "spiffe://example.org/e2", { hint: "same" });
    source.grant("test:app:e", "spiffe://example.org/e1", { hint: "dup-id" });
    const api = await startWorkloadApi({ source, attestor: createFixedAttestor(["test:app:e"]) });
    const client = createWorkloadApiClient({ address: api.socketPath });
    try {
      const ctx = await client.fetchX509Context();
      assert.deepEqual(ctx.svids.map((s) => [s.spiffeId, s.hint]), [["spiffe://example.org/e1", "same"], ["spiffe://example.org/e2", ""]]);
      const jwts = await client.fetchJwtSvids(["x"]);
      assert.deepEqual(jwts.map((s) => [s.spiffeId, s.hint]), [["spiffe://example.org/e1", "same"], ["spiffe://example.org/e2", ""]]);
    } finally {
      client.close();
      await api.close();
    }
  });

  it("FetchJWTSVID serves cached tokens until half their lifetime, then re-mints", async () => {
    const clock = createFakeClock(Date.now());
    const source = new FakeIdentitySource({ clock, jwtTtlSeconds: 120 });
    source.grant("test:app:g", "spiffe://example.org/g");
    const api = await startWorkloadApi({ source, attestor: createFixedAttestor(["test:app:g"]), clock });
    const client = createWorkloadApiClient({ address: api.socketPath });
    try {
      const [first] = await client.fetchJwtSvids(["aud"]);
      clock.advance(59_000);
      assert.equal((await client.fetchJwtSvids(["aud"]))[0]!.svid, first!.svid);
      assert.equal(source.mints, 1);
      assert.notEqual((await client.fetchJwtSvids(["aud", "other"]))[0]!.svid, first!.svid, "another audience set is another token");
      clock.advance(2_000);
      const [renewed] = await client.fetchJwtSvids(["aud"]);
      assert.notEqual(renewed!.svid, first!.svid);
      assert.equal(source.mints, 3);
      assert.equal((await client.validateJwtSvid("aud", renewed!.svid)).spiffeId, "spiffe://example.org/g");
    } finally {
      client.close();
      await api.close();
    }
  });

  it("ValidateJWTSVID request without svid is InvalidArgument", async () => {
    const source = new FakeIdentitySource();
    source.grant("test:app:f", "spiffe://example.org/f");
    const api = await startWorkloadApi({ source, attestor: createFixedAttestor(["test:app:f"]) });
    const raw = rawWorkloadClient(api.socketPath);
    try {
      const err = await new Promise<grpc.ServiceError | null>((resolve) =>
        (raw["validateJWTSVID"] as (...a: unknown[]) => void)(create(ValidateJWTSVIDRequestSchema, { audience: "a" }), header(), (e: grpc.ServiceError | null) => resolve(e)),
      );
      assert.equal(err?.code, S.INVALID_ARGUMENT);
      assert.match(err.details, /svid/);
    } finally {
      raw.close();
      await api.close();
    }
  });
});
