// End to end: two Node TLS endpoints configured ONLY from what SDS delivered (their tls_certificate
// Secrets and the SPIFFE validator's per-trust-domain bundle) complete an mTLS handshake with URI
// SAN checks, as Envoy's match_typed_subject_alt_names would, and refuse an unexpected peer.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { X509Certificate } from "node:crypto";
import tls from "node:tls";
import type { AddressInfo } from "node:net";
import type * as grpc from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import { SPIFFECertValidatorConfigSchema } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config_pb.js";
import type { Secret } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { FakeSecretSource, TD, createSdsClient, createTestPki, decodeSecret, startTestAgent, subscribeSotw, uidSelector, type TestAgent } from "./sds-fixtures.js";

const WEB = `spiffe://${TD}/web`;
const API = `spiffe://${TD}/api`;
const source = new FakeSecretSource(createTestPki());
source.grant(uidSelector(process.getuid!()), WEB, API);
let agent: TestAgent;
let client: grpc.Client;

before(async () => {
  agent = await startTestAgent(source, { level: "silent" });
  client = createSdsClient(agent.socketPath);
});
after(async () => {
  client.close();
  await agent.close();
});

async function fetchSecret(name: string): Promise<Secret> {
  const s = subscribeSotw(client, name);
  const secret = decodeSecret((await s.next()).resources[0]!);
  s.close();
  return secret;
}

interface Endpoint {
  cert: string;
  key: string;
  /** trust domain -> PEM roots, from the SPIFFE validator config. */
  bundles: Map<string, string>;
}

async function endpointFromSds(identity: string): Promise<Endpoint> {
  const [tlsSecret, all] = await Promise.all([fetchSecret(identity), fetchSecret("ALL")]);
  assert.ok(tlsSecret.type.case === "tlsCertificate" && all.type.case === "validationContext");
  const text = (d: { specifier: { value?: unknown } } | undefined) => Buffer.from(d!.specifier.value as Uint8Array).toString();
  const config = fromBinary(SPIFFECertValidatorConfigSchema, all.type.value.customValidatorConfig!.typedConfig!.value);
  return {
    cert: text(tlsSecret.type.value.certificateChain),
    key: text(tlsSecret.type.value.privateKey),
    bundles: new Map(config.trustDomains.map((td) => [td.name, text(td.trustBundle)])),
  };
}

const uriSan = (cert: { subjectaltname?: string }) => cert.subjectaltname?.replace(/^URI:/, "");

/** A server presenting its SVID, requiring a client SVID from `expectedPeer`'s trust domain and ID. */
async function startServer(ep: Endpoint, expectedPeer: string): Promise<tls.Server> {
  const td = new URL(expectedPeer).host;
  const server = tls.createServer({ cert: ep.cert, key: ep.key, ca: ep.bundles.get(td), requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" }, (sock) => {
    if (uriSan(sock.getPeerCertificate()) !== expectedPeer) return sock.destroy();
    sock.end("hello " + uriSan(sock.getPeerCertificate()));
  });
  server.on("tlsClientError", () => {});
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return server;
}

function connect(ep: Endpoint, port: number, expectedServer: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({
      host: "127.0.0.1",
      port,
      cert: ep.cert,
      key: ep.key,
      ca: ep.bundles.get(new URL(expectedServer).host),
      checkServerIdentity: (_host, cert) => (uriSan(cert) === expectedServer ? undefined : new Error(`peer is ${uriSan(cert)}, expected ${expectedServer}`)),
    });
    let data = "";
    sock.on("data", (d: Buffer) => (data += d.toString()));
    sock.on("end", () => resolve(data));
    sock.on("close", () => resolve(data));
    sock.on("error", reject);
  });
}

test("mTLS between two endpoints configured from SDS: handshake with URI SAN checks succeeds", async (t) => {
  const [web, api] = await Promise.all([endpointFromSds(WEB), endpointFromSds(API)]);
  assert.equal(new X509Certificate(web.cert).subjectAltName, `URI:${WEB}`);
  const server = await startServer(api, WEB);
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  assert.equal(await connect(web, port, API), `hello ${WEB}`);
});

test("mTLS refuses a server whose SPIFFE ID is not the expected one, and a client the server does not expect", async (t) => {
  const [web, api] = await Promise.all([endpointFromSds(WEB), endpointFromSds(API)]);
  const server = await startServer(api, `spiffe://${TD}/someone-else`);
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  await assert.rejects(connect(web, port, `spiffe://${TD}/db`), /peer is spiffe:\/\/example\.org\/api, expected spiffe:\/\/example\.org\/db/);
  // Handshake completes at the TLS layer, but the server drops a client with the wrong ID.
  assert.equal(await connect(web, port, API).catch(() => ""), "");
});

test("mTLS fails against a peer outside the delivered bundle", async (t) => {
  const web = await endpointFromSds(WEB);
  const stranger = new FakeSecretSource(createTestPki()).issue(API);
  const pem = (der: Uint8Array, label: string) => `-----BEGIN ${label}-----\n${Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n")}\n-----END ${label}-----\n`;
  const server = await startServer({ cert: stranger.certChainDer.map((d) => pem(d, "CERTIFICATE")).join(""), key: pem(stranger.privateKeyPkcs8Der, "PRIVATE KEY"), bundles: web.bundles }, WEB);
  t.after(() => server.close());
  await assert.rejects(connect(web, (server.address() as AddressInfo).port, API), /certificate|verify|issuer/i);
});
