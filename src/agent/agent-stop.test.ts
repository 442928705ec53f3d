// stop() while start() is still running (agentapi harness server, real agent API transport, temp
// sockets): start() rejects with ERR_AGENT_START, and once stop() resolved nothing the start
// brought up is left: the public socket does not accept connections, the health port is closed,
// no sync or renewal runs, and the server connection refuses further calls.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { SpindleError } from "../common/errors.js";
import { createSilentLogger } from "../common/logger.js";
import { nodeCertificate, startHarness, TD, type Harness } from "../../test/support/agentapi-harness.js";
import { createAgent, type Agent, type AgentOptions } from "./agent.js";
import * as x509pop from "./nodeattestors/x509pop/index.js";
import { createAgentApiTransport, type AgentTransport } from "./transport.js";

const dir = mkdtempSync(join(tmpdir(), "spindle-agent-stop-"));
chmodSync(dir, 0o755);
let h: Harness;

before(async () => {
  h = await startHarness();
});

after(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

function baseOptions(name: string): AgentOptions {
  const cert = nodeCertificate(h.nodeCa, name);
  return {
    trustDomain: TD,
    serverAddresses: [`127.0.0.1:${h.server.address.port}`],
    socketPath: join(dir, name, "public", "api.sock"),
    adminSocketPath: join(dir, name, "admin", "admin.sock"),
    dataDir: join(dir, name, "data"),
    nodeAttestor: x509pop.createX509PopAgentAttestor({ certificateChainDer: [cert.der], privateKey: cert.privateKey }),
    trustBundleDer: h.ca.bundleContents().x509Authorities,
    workloadAttestors: [{ name: "unix", attest: async () => [] }],
    healthAddress: { host: "127.0.0.1", port: 0 },
    syncIntervalMs: 1000,
    logger: createSilentLogger(),
    clock: h.clock,
  };
}

/** Whether something accepts connections on the Unix socket `path`. */
function listening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function portOpen(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/live`, { signal: AbortSignal.timeout(2000) });
    return true;
  } catch {
    return false;
  }
}

test("stop() while the public socket is starting: start() rejects, the socket and the health port are not left open", async () => {
  const o = baseOptions("node-stop-socket");
  const agent = createAgent(o);
  const started = agent.start();
  // start() is now awaiting the public socket's listen.
  await agent.stop();
  await assert.rejects(started, (e) => SpindleError.is(e, "ERR_AGENT_START") && /stopped while starting/.test(e.message));
  assert.equal(await listening(o.socketPath), false, "the public socket is closed");
  assert.equal(await listening(o.adminSocketPath!), false, "the admin socket never came up");
  const health = agent.healthAddress();
  if (health !== undefined) assert.equal(await portOpen(health.port), false, "the health port is closed");
  assert.equal(agent.status().agentId, undefined, "the node was never attested");
});

test("stop() right after attestation resolved: start() rejects, nothing keeps running (socket, health, admin, sync, renewal)", async () => {
  const o = baseOptions("node-stop-attested");
  const real = createAgentApiTransport({
    serverAddresses: o.serverAddresses,
    trustDomain: TD,
    nodeAttestor: o.nodeAttestor,
    trustBundleDer: o.trustBundleDer,
    insecureBootstrap: false,
    logger: o.logger,
    clock: h.clock,
  });
  let stopped: Promise<void> | undefined;
  let serverCalls = 0;
  let closed = false;
  const transport: AgentTransport = {
    attest: async () => {
      const r = await real.attest();
      // Everything but the SVID manager and sync loop is up; stop() arrives before start() resumes.
      stopped = agent.stop();
      return r;
    },
    client: {
      ...real.client,
      syncEntries: (known) => (serverCalls++, real.client.syncEntries(known)),
      renewAgentSvid: (csr) => (serverCalls++, real.client.renewAgentSvid(csr)),
    },
    setIdentity: (svid) => real.setIdentity(svid),
    setTrust: (ders) => real.setTrust(ders),
    close: () => {
      closed = true;
      real.close();
    },
  };
  const agent: Agent = createAgent({ ...o, transport });
  await assert.rejects(agent.start(), (e) => SpindleError.is(e, "ERR_AGENT_START") && /stopped while starting \(node attestation\)/.test(e.message));
  assert.ok(stopped !== undefined, "stop() was called during start()");
  await stopped;

  assert.equal(closed, true, "the transport was closed");
  assert.equal(await listening(o.socketPath), false, "the public socket is closed");
  assert.equal(await listening(o.adminSocketPath!), false, "the admin socket is closed");
  const health = agent.healthAddress();
  assert.ok(health !== undefined, "the health endpoints had been started");
  assert.equal(await portOpen(health.port), false, "the health port is closed");
  // A running sync loop would call the server at once and every second; a renewal at half-life.
  for (let i = 0; i < 5; i++) {
    h.clock.advance(60_000);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(serverCalls, 0, "no sync or renewal after stop()");
  await assert.rejects(real.client.syncEntries(new Map()), (e) => SpindleError.is(e, "ERR_AGENT_SERVER_UNREACHABLE") && /closed/.test(e.message), "the closed connection refuses calls");
});
