// The server is killed and stays down past the workload SVID's expiry (real processes, 12 s
// X.509-SVID TTL, leaves backdated 10 s). While it is down the workload gets Unavailable
// (retryable), never PermissionDenied "no registration entry", and the agent log says why; once
// the server is back, the workload has an SVID again within seconds (refused calls make the agent
// retry the server at once instead of after its backoff).
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { after, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { SpindleError } from "../../../src/common/errors.js";
import { reportTiming, sleep, startFaultDomain, waitFor, WORKLOAD_ID, type FaultDomain } from "./harness.js";

let d: FaultDomain | undefined;
after(async () => d?.close());

test("server down past SVID expiry: Unavailable with the reason logged, then an SVID again soon after the server returns", { timeout: 150_000 }, async () => {
  d = await startFaultDomain({ serverLines: ["ca_ttl: 1h", "x509_svid_ttl: 12s", "agent_api: {agent_svid_ttl: 10m}"] });
  const dom = d;
  const agent = await dom.startAgent();
  const client = dom.client();
  const first = await waitFor("first SVID", 30_000, async () => (await client.fetchX509Context()).svids.find((s) => s.spiffeId === WORKLOAD_ID));
  // Let a rotation happen so the cached SVID is a fresh one, then kill the server.
  const firstSerial = new X509Certificate(first.chainDer[0]!).serialNumber;
  const cached = await waitFor("a renewed SVID", 30_000, async () => {
    const s = (await client.fetchX509Context()).svids.find((x) => x.spiffeId === WORKLOAD_ID);
    return s !== undefined && new X509Certificate(s.chainDer[0]!).serialNumber !== firstSerial ? s : undefined;
  });
  assert.equal(await dom.server.stop("SIGKILL"), null);
  const downAt = Date.now();
  const notAfter = Date.parse(new X509Certificate(cached.chainDer[0]!).validTo);
  await sleep(Math.max(0, notAfter - Date.now()) + 1_500);

  let refused: SpindleError | undefined;
  try {
    await client.fetchX509Context();
  } catch (err) {
    refused = SpindleError.from(err);
  }
  assert.ok(refused, "no SVID is served once it expired");
  assert.equal(refused.details["grpcCode"], grpc.status.UNAVAILABLE, `Unavailable, got: ${refused.message}`);
  assert.doesNotMatch(refused.message, /no registration entry/);
  const why = /matches but its SVID expired at \S+ and the server is unreachable since \S+ \(ERR_AGENT_SERVER_UNREACHABLE\): answering Unavailable/;
  // The agent's log reaches this process through a pipe, a moment after the answer.
  await waitFor("the agent logs why it answered Unavailable", 5_000, () => (why.test(agent.output()) ? true : undefined));
  const expiredAt = Date.now();

  // Down long enough for the agent's backoff to reach several seconds.
  await sleep(10_000);
  await dom.startServer();
  const backAt = Date.now();
  await waitFor("an SVID after the server is back", 30_000, async () => (await client.fetchX509Context()).svids.find((s) => s.spiffeId === WORKLOAD_ID), 200);
  const recoveryMs = Date.now() - backAt;
  assert.ok(recoveryMs < 15_000, `SVID back ${recoveryMs} ms after the server`);
  reportTiming("server-outage-past-svid-expiry", { serverDownMs: backAt - downAt, unavailableForMsBeforeReturn: backAt - expiredAt, firstSvidAfterServerBackMs: recoveryMs });
});
