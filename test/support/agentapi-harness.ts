// Test harness for the agent API (tests only): a CA on a fake clock that starts at the real time
// (TLS peers check certificates against the real clock), the three node attestors, in-memory
// stores, the server on 127.0.0.1, and an agent-like client over connect-node's gRPC transport.
import { createPrivateKey, generateKeyPairSync, webcrypto, type KeyObject } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SignJWT, type JSONWebKeySet, type JWK } from "jose";
import { createSilentLogger } from "../../src/common/index.js";
import { createFakeClock, type FakeClock } from "./fake-clock.js";
import { certsToPem, derToPem } from "../../src/common/pem.js";
import { AgentService, type AgentSvid, type AttestRequest } from "../../src/gen/spindle/agent/v1/agent_pb.js";
import { createBundle, createBundleSet, decodeSpiffeBundle, parseTrustDomain, type BundleSet } from "../../src/spiffe/index.js";
import { createTestCa, issueTestSvid, type TestCa } from "./spiffe/index.js";
import type { AgentNodeAttestor } from "../../src/agent/nodeattestors/plugin.js";
import { createCertificateAuthority, createMemoryJournalStore, type ManagedCertificateAuthority } from "../../src/ca/authority/index.js";
import { createMemoryKeyManager } from "../../src/ca/keys/index.js";
import { createJoinTokenAttestor, createK8sPsatAttestor, createX509PopAttestor, parseK8sPsatServerConfig, type NodeAttestorPlugin } from "../../src/ca/nodeattestors/index.js";
import { px } from "./x509-checks.js";
import { createMemoryAgentStore, createMemoryEntrySource, createMemoryJoinTokens, type MemoryEntrySource, type MemoryJoinTokens } from "../../src/ca/agentapi/memory-stores.js";
import { startAgentApiServer, type AgentApiServer } from "../../src/ca/agentapi/server.js";
import type { AgentStore } from "../../src/ca/agentapi/stores.js";

export const TD = "example.org";
export const SERVER_ID = `spiffe://${TD}/spindle/server`;

export interface Harness {
  clock: FakeClock;
  ca: ManagedCertificateAuthority;
  server: AgentApiServer;
  agents: AgentStore;
  entries: MemoryEntrySource;
  tokens: MemoryJoinTokens;
  nodeCa: TestCa;
  psatKey: KeyObject;
  /** The server's own trust bundle as an agent would hold it. */
  bundlePem(): string;
  bundles(): BundleSet;
  client(identity?: { chainDer: readonly Uint8Array[]; privateKey: KeyObject }): Client<typeof AgentService>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  attestationsPerSecond?: number;
  signingsPerSecond?: number;
  agentSvidTtlSeconds?: number;
}

export async function startHarness(o: HarnessOptions = {}): Promise<Harness> {
  const clock = createFakeClock(Date.now());
  const logger = createSilentLogger();
  const ca = await createCertificateAuthority({ trustDomain: TD, serverId: "s1", keyManager: createMemoryKeyManager(), journalStore: createMemoryJournalStore(), clock, logger });
  const td = parseTrustDomain(TD);
  const tokens = createMemoryJoinTokens(clock);
  const nodeCa = createTestCa({ trustDomain: "nodes.example", now: clock.now(), subject: "CN=Node CA" });
  const psatKey = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwks: JSONWebKeySet = { keys: [{ ...(psatKey.publicKey.export({ format: "jwk" }) as JWK), kid: "k1" }] };
  const attestors = new Map<string, NodeAttestorPlugin>([
    ["join_token", createJoinTokenAttestor({ trustDomain: td, tokens })],
    ["x509pop", createX509PopAttestor({ trustDomain: td, caCertificates: [nodeCa.der], clock })],
    [
      "k8s_psat",
      createK8sPsatAttestor({
        trustDomain: td,
        config: parseK8sPsatServerConfig({ clusters: { prod: { service_account_allow_list: ["spindle:agent"], jwks_path: "/unused" } } }),
        clock,
        logger,
        jwks: { prod: jwks },
      }),
    ],
  ]);
  const agents = createMemoryAgentStore();
  const entries = createMemoryEntrySource(clock);
  const server = await startAgentApiServer({ trustDomain: TD, ca, attestors, agents, entries, clock, logger, host: "127.0.0.1", port: 0, ...o });
  const bundles = () => {
    const c = ca.bundleContents();
    return createBundleSet([createBundle({ trustDomain: td, x509Authorities: c.x509Authorities, jwtAuthorities: c.jwtAuthorities.map((a) => [a.kid, a.publicKeyJwk] as const) })]);
  };
  const bundlePem = () => certsToPem(ca.bundleContents().x509Authorities);
  return {
    clock,
    ca,
    server,
    agents,
    entries,
    tokens,
    nodeCa,
    psatKey: psatKey.privateKey,
    bundlePem,
    bundles,
    client: (identity) => agentClient(server.address.port, bundlePem(), identity),
    close: () => server.close(),
  };
}

/** An agent-like client: trusts `bundlePem`, checks the server's SPIFFE ID, optionally presents an SVID. */
export function agentClient(port: number, bundlePem: string, identity?: { chainDer: readonly Uint8Array[]; privateKey: KeyObject }, trustDomain = TD): Client<typeof AgentService> {
  const serverId = `spiffe://${trustDomain}/spindle/server`;
  const transport = createGrpcTransport({
    baseUrl: `https://127.0.0.1:${port}`,
    nodeOptions: {
      ca: bundlePem,
      ...(identity ? { cert: certsToPem(identity.chainDer), key: identity.privateKey.export({ type: "pkcs8", format: "pem" }) } : {}),
      // The server is identified by its SPIFFE ID, not a host name.
      checkServerIdentity: (_host: string, cert: PeerCertificate) =>
        cert.subjectaltname?.split(", ").includes(`URI:${serverId}`) ? undefined : new Error(`server is not ${serverId}: ${cert.subjectaltname}`),
    },
  });
  return createClient(AgentService, transport);
}

/** A P-256 key and a CSR for it, built by @peculiar/x509 (independent of our parser). */
export async function makeCsr(opts: { uris?: string[]; ca?: boolean; rsaBits?: number } = {}): Promise<{ der: Buffer; privateKey: KeyObject }> {
  const alg = opts.rsaBits
    ? { name: "RSASSA-PKCS1-v1_5", modulusLength: opts.rsaBits, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }
    : { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await webcrypto.subtle.generateKey(alg as never, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const extensions: InstanceType<typeof px.Extension>[] = [];
  if (opts.uris?.length) extensions.push(new px.SubjectAlternativeNameExtension(opts.uris.map((value) => ({ type: "url" as const, value }))));
  if (opts.ca !== undefined) extensions.push(new px.BasicConstraintsExtension(opts.ca, undefined, true));
  const csr = await px.Pkcs10CertificateRequestGenerator.create({ name: "O=Agent", keys, signingAlgorithm: alg, extensions }, webcrypto as never);
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { der: Buffer.from(csr.rawData), privateKey: createPrivateKey({ key: derToPem(pkcs8, "PRIVATE KEY") }) };
}

/** Runs the Attest stream as an agent would: params, then answers every challenge with the plugin. */
export async function attest(client: Client<typeof AgentService>, plugin: AgentNodeAttestor, csrDer?: Uint8Array): Promise<{ svid: AgentSvid; privateKey: KeyObject; rounds: number }> {
  const csr = csrDer === undefined ? await makeCsr() : { der: Buffer.from(csrDer), privateKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey };
  const queue: AttestRequest[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  const push = (m: AttestRequest) => {
    queue.push(m);
    wake?.();
  };
  async function* requests(): AsyncGenerator<AttestRequest> {
    for (;;) {
      const m = queue.shift();
      if (m !== undefined) yield m;
      else if (closed) return;
      else await new Promise<void>((r) => (wake = r));
    }
  }
  push({ $typeName: "spindle.agent.v1.AttestRequest", step: { case: "params", value: { $typeName: "spindle.agent.v1.AttestationParams", attestor: plugin.name, payload: await plugin.payload(), csr: csr.der } } });
  let rounds = 0;
  try {
    for await (const res of client.attest(requests())) {
      if (res.step.case === "challenge") {
        rounds++;
        push({ $typeName: "spindle.agent.v1.AttestRequest", step: { case: "challengeResponse", value: await plugin.answer(res.step.value) } });
      } else if (res.step.case === "result") {
        return { svid: res.step.value, privateKey: csr.privateKey, rounds };
      }
    }
  } finally {
    closed = true;
    wake?.();
  }
  throw new Error("attest stream ended without a result");
}

/** A projected service-account token for the harness's k8s_psat cluster "prod". */
export async function psat(key: KeyObject, o: { node?: string; aud?: string; now: number }): Promise<string> {
  const iat = Math.floor(o.now / 1000);
  return new SignJWT({
    "kubernetes.io": { namespace: "spindle", serviceaccount: { name: "agent", uid: "sa1" }, pod: { name: "agent-abc", uid: "pod1" }, node: { name: o.node ?? "worker-1", uid: `uid-${o.node ?? "worker-1"}` } },
  })
    .setProtectedHeader({ alg: "ES256", kid: "k1" })
    .setSubject("system:serviceaccount:spindle:agent")
    .setAudience(o.aud ?? "spindle-server")
    .setIssuedAt(iat)
    .setExpirationTime(iat + 600)
    .sign(key);
}

export function nodeCertificate(nodeCa: TestCa, cn: string) {
  return issueTestSvid(nodeCa, { spiffeId: "spiffe://unused/x", uris: [], subject: `CN=${cn}` });
}

/** The own bundle delivered by the server, decoded (what an agent trusts after attestation). */
export function decodeDelivered(svid: AgentSvid): BundleSet {
  return createBundleSet([decodeSpiffeBundle(parseTrustDomain(svid.bundle!.trustDomain), svid.bundle!.spiffeBundle)]);
}
