// OIDC discovery end to end: real `spindle server run` (oidc section, HTTPS with a test CA) and
// `spindle agent run` processes; a workload fetches a JWT-SVID through the Workload API, and two
// independent relying parties (jose, and Python's PyJWT) verify it from the issuer URL alone,
// exactly as a cloud STS would: discovery document -> jwks_uri -> signature, iss, aud, exp.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { createTestCa, type TestCa } from "../support/tls-test-ca.js";
import { eventually } from "./sds-fixtures.js";
import { startAgentProcess, type AgentProcess } from "./helpers/agent-process.js";
import { runCli, startServerProcess, type ServerProcess } from "./helpers/cli-process.js";
import { freePort } from "./helpers/ports.js";
import { startTestServer } from "./helpers/server.js";
import { SpindleError } from "../../src/common/errors.js";

const TD = "example.org";
const WORKLOAD = `spiffe://${TD}/billing`;
const AUD = "sts.amazonaws.com";
const HERE = fileURLToPath(new URL("./oidc/", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const VENV = fileURLToPath(new URL("./interop/python/bin/venv-oidc/", import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The jose relying party in its own Node process, trusting the test CA through NODE_EXTRA_CA_CERTS. */
const josePartyVerifies = (ca: TestCa, issuer: string, audience: string, token: string) =>
  run(process.execPath, ["--import", "tsx", join(HERE, "relying-party.ts"), issuer, audience, token], { NODE_EXTRA_CA_CERTS: ca.caFile });

async function pythonWithPyJwt(): Promise<string> {
  const python = join(VENV, "bin", "python");
  if (!existsSync(python)) {
    const made = await run("python3", ["-m", "venv", VENV]);
    assert.equal(made.code, 0, made.stderr);
  }
  const pip = await run(python, ["-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", join(HERE, "requirements.txt")], {}, 600_000);
  assert.equal(pip.code, 0, `pip install PyJWT: ${pip.stderr}`);
  return python;
}

function get(port: number, path: string, ca: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, ca, servername: "localhost", headers: { host }, agent: false }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("OIDC discovery: relying parties verify a real agent's JWT-SVID from the issuer URL", { timeout: 600_000 }, () => {
  let dir: string;
  let ca: TestCa;
  let server: ServerProcess | undefined;
  let agent: AgentProcess | undefined;
  let issuer: string;
  let oidcPort: number;
  let socket: string;
  let token: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "spindle-oidc-"));
    ca = createTestCa();
    const tls = ca.issue("oidc", ["localhost"]);
    const port = await freePort();
    oidcPort = await freePort();
    issuer = `https://localhost:${oidcPort}`;
    const serverAdmin = join(dir, "server-private", "admin.sock");
    mkdirSync(join(dir, "server-private"), { mode: 0o700 });
    socket = join(dir, "public", "api.sock");
    // jwt_key_type is left at its default (rsa-2048, RS256): the key type every cloud accepts.
    writeFileSync(
      join(dir, "server.yaml"),
      [
        `trust_domain: ${TD}`,
        `data_dir: ${join(dir, "server")}`,
        `bind_address: 127.0.0.1:${port}`,
        `admin_socket: ${serverAdmin}`,
        "key_manager: memory",
        "health_address: 127.0.0.1:0",
        `jwt_issuer: ${issuer}`,
        "oidc:",
        `  address: 127.0.0.1:${oidcPort}`,
        `  cert_file: ${tls.certFile}`,
        `  key_file: ${tls.keyFile}`,
        "  set_key_use: true",
      ].join("\n"),
    );
    server = await startServerProcess(["--config", join(dir, "server.yaml")]);
    assert.match(server.output(), new RegExp(`oidc ${issuer}/\\.well-known/openid-configuration`));
    const admin = async (...a: string[]) => {
      const r = await runCli([...a, "--admin-socket", serverAdmin]);
      assert.equal(r.status, 0, `spindle ${a.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    const t = JSON.parse(await admin("token", "generate", "--output", "json")) as { token: string; agentId: string };
    await admin("entry", "create", "--spiffe-id", WORKLOAD, "--parent-id", t.agentId, "--selector", `unix:uid:${process.getuid!()}`);
    writeFileSync(join(dir, "bundle.pem"), await admin("bundle", "show", "--format", "pem"));
    writeFileSync(
      join(dir, "agent.yaml"),
      [
        `trust_domain: ${TD}`,
        `socket_path: ${socket}`,
        `admin_socket: ${join(dir, "agent-private", "admin.sock")}`,
        `data_dir: ${join(dir, "agent")}`,
        "health_address: 127.0.0.1:0",
        "sync_interval: 1s",
        `server_addresses: [127.0.0.1:${port}]`,
        `node_attestor: {join_token: {token: ${t.token}}}`,
      ].join("\n"),
    );
    agent = await startAgentProcess(["--config", join(dir, "agent.yaml"), "--trust-bundle", join(dir, "bundle.pem")]);
    // The workload (this test's uid) asks its agent for a JWT-SVID, as any SPIFFE client would.
    token = await eventually(async () => {
      const r = await runCli(["api", "fetch", "jwt", "--audience", AUD, "--socket-path", socket, "--output", "json"]);
      if (r.status !== 0) return undefined;
      return (JSON.parse(r.stdout) as { svids: { spiffe_id: string; svid: string }[] }).svids.find((s) => s.spiffe_id === WORKLOAD)?.svid;
    }, 60_000);
  });

  after(async () => {
    await agent?.stop();
    await server?.stop();
    ca?.cleanup();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("the JWT-SVID carries iss, iat, exp, sub, aud and a kid header, signed RS256 by default", () => {
    const header = decodeProtectedHeader(token);
    const claims = decodeJwt(token);
    assert.equal(header.alg, "RS256");
    assert.equal(header.typ, "JWT");
    assert.equal(typeof header.kid, "string");
    assert.equal(claims.iss, issuer);
    assert.equal(claims.sub, WORKLOAD);
    assert.equal(claims.aud, AUD);
    assert.ok(Number.isInteger(claims.iat) && Number.isInteger(claims.exp) && claims.exp! > claims.iat!, JSON.stringify(claims));
  });

  it("jose (createRemoteJWKSet on the discovered jwks_uri, jwtVerify with issuer and audience) accepts it over HTTPS", async () => {
    const r = await josePartyVerifies(ca, issuer, AUD, token);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { header: Record<string, unknown>; payload: Record<string, unknown>; discovery: Record<string, unknown> };
    assert.equal(out.payload.sub, WORKLOAD);
    assert.equal(out.header.kid, decodeProtectedHeader(token).kid);
    assert.deepEqual(out.discovery, {
      issuer,
      jwks_uri: `${issuer}/keys`,
      authorization_endpoint: "",
      response_types_supported: ["id_token"],
      subject_types_supported: ["public"],
      id_token_signing_alg_values_supported: ["RS256"],
    });
  });

  it("the same relying party refuses the token for another audience, a tampered token, and a client without the CA", async () => {
    const otherAud = await josePartyVerifies(ca, issuer, "api://AzureADTokenExchange", token);
    assert.equal(otherAud.code, 1);
    assert.match(otherAud.stderr, /aud/);
    const [h, , s] = token.split(".") as [string, string, string];
    const forged = Buffer.from(JSON.stringify({ ...decodeJwt(token), sub: `spiffe://${TD}/admin` })).toString("base64url");
    const tampered = await josePartyVerifies(ca, issuer, AUD, `${h}.${forged}.${s}`);
    assert.equal(tampered.code, 1);
    assert.match(tampered.stderr, /signature/i);
    const untrusted = await run(process.execPath, ["--import", "tsx", join(HERE, "relying-party.ts"), issuer, AUD, token]);
    assert.equal(untrusted.code, 1, "without the test CA the TLS handshake must fail");
    assert.match(untrusted.stderr, /fetch failed|certificate/i);
  });

  it("PyJWT's PyJWKClient on the same endpoint verifies the token (a second, independent client agrees)", async () => {
    const python = await pythonWithPyJwt();
    const r = await run(python, [join(HERE, "pyjwt_verify.py"), issuer, AUD, token, ca.caFile]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { kid: string; claims: Record<string, unknown> };
    assert.equal(out.kid, decodeProtectedHeader(token).kid);
    assert.equal(out.claims.sub, WORKLOAD);
    assert.equal(out.claims.iss, issuer);
    const wrong = await run(python, [join(HERE, "pyjwt_verify.py"), issuer, "someone-else", token, ca.caFile]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /InvalidAudience/);
  });

  it("the server's OIDC listener: keys carry use: sig, /ready is 200, a foreign Host gets 400", async () => {
    const jwks = await get(oidcPort, "/keys", ca.caPem, `localhost:${oidcPort}`);
    assert.equal(jwks.status, 200);
    const keys = (JSON.parse(jwks.body) as { keys: Record<string, unknown>[] }).keys;
    assert.ok(keys.length >= 1 && keys.every((k) => k.use === "sig" && k.alg === "RS256" && k.kty === "RSA"), jwks.body);
    assert.equal((await get(oidcPort, "/ready", ca.caPem, "10.1.2.3")).status, 200);
    assert.equal((await get(oidcPort, "/keys", ca.caPem, "evil.example.com")).status, 400);
  });
});

describe("OIDC configuration refused at start", { timeout: 120_000 }, () => {
  it("an oidc issuer that differs from jwt_issuer: clear error, exit non-zero", async () => {
    const d = mkdtempSync(join(tmpdir(), "spindle-oidc-bad-"));
    try {
      writeFileSync(
        join(d, "server.yaml"),
        [`trust_domain: ${TD}`, `data_dir: ${join(d, "data")}`, "jwt_issuer: https://oidc.example.org", "oidc:", "  issuer: https://oidc.example.org/", "  insecure_http: true"].join("\n"),
      );
      const r = await runCli(["server", "run", "--config", join(d, "server.yaml")]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /ERR_CONFIG_INVALID/);
      assert.match(r.stderr, /oidc\.issuer: "https:\/\/oidc\.example\.org\/" differs from jwt_issuer "https:\/\/oidc\.example\.org"/);
      assert.doesNotMatch(r.stderr, /spindle server: ready/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("the server itself refuses options whose oidc issuer is not jwt_issuer (not only the config loader)", async () => {
    const oidc = { address: { host: "127.0.0.1", port: 0 }, tls: undefined, insecureHttp: true, issuer: "https://a.example.org", pathPrefix: "/", setKeyUse: false, domains: ["a.example.org"] };
    await assert.rejects(startTestServer({ jwtIssuer: "https://b.example.org", oidc }), (e: unknown) => {
      assert.ok(SpindleError.is(e, "ERR_CONFIG_INVALID"), String(e));
      assert.match(e.message, /oidc\.issuer "https:\/\/a\.example\.org" differs from jwt_issuer "https:\/\/b\.example\.org"/);
      return true;
    });
  });
});
