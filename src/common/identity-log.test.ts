import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { createFakeClock } from "../../test/support/fake-clock.js";
import { spindleError } from "./errors.js";
import { createIdentityLog } from "./identity-log.js";
import { createLogger } from "./logger.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString("utf8").split("\n")) if (l !== "") lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger({ level: "info", destination }) };
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => `spiffe://example.org/w${i}`);
const WEB = ["unix:uid:1000", "unix:path:/usr/bin/web"];

test("a grant lists the first 3 SPIFFE IDs and counts them all", () => {
  const { lines, logger } = capture();
  const log = createIdentityLog({ logger, clock: createFakeClock() });
  log.granted({ rpc: "FetchX509SVID", pid: 42, uid: 1000, selectors: WEB, spiffeIds: ids(250) });
  assert.equal(lines.length, 1);
  const line = lines[0]!;
  assert.equal(line["msg"], "identity granted");
  assert.equal(line["component"], "identity");
  assert.deepEqual([line["rpc"], line["pid"], line["uid"]], ["FetchX509SVID", 42, 1000]);
  assert.deepEqual(line["spiffeIds"], ids(3));
  assert.equal(line["spiffeIdCount"], 250);
  assert.equal(line["selectors"], undefined, "grants carry no selector list");
  assert.ok(JSON.stringify(line).length < 400, `a grant of 250 IDs stays short: ${JSON.stringify(line).length} bytes`);
  log.granted({ rpc: "StreamSecrets", pid: 43, uid: 1001, selectors: ["unix:uid:1001"], resources: ["default", "ROOTCA"] });
  assert.deepEqual([lines[1]!["resources"], lines[1]!["resourceCount"], lines[1]!["spiffeIds"]], [["default", "ROOTCA"], 2, undefined]);
});

test("one line per (uid, selectors, outcome) per window; the next says how many were suppressed", () => {
  const { lines, logger } = capture();
  const clock = createFakeClock();
  const log = createIdentityLog({ logger, clock, windowMs: 60_000 });
  for (let pid = 1; pid <= 10; pid++) log.granted({ rpc: "FetchX509SVID", pid, uid: 1000, selectors: WEB, spiffeIds: ids(1) });
  // Same selectors listed in another order: the same caller.
  log.granted({ rpc: "FetchJWTSVID", pid: 11, uid: 1000, selectors: [...WEB].reverse(), spiffeIds: ids(1) });
  // Another binary, another outcome (more IDs), a refusal: each its own key.
  log.granted({ rpc: "FetchX509SVID", pid: 12, uid: 1000, selectors: ["unix:uid:1000", "unix:path:/usr/bin/other"], spiffeIds: ids(1) });
  log.granted({ rpc: "FetchX509SVID", pid: 13, uid: 1000, selectors: WEB, spiffeIds: ids(2) });
  const refusal = spindleError("ERR_WORKLOAD_NO_IDENTITY", "no identity issued: no registration entry matches this workload's selectors");
  for (let pid = 20; pid < 25; pid++) log.refused({ rpc: "FetchX509SVID", pid, uid: 2000, selectors: ["unix:uid:2000"], err: refusal });
  assert.deepEqual(
    lines.map((l) => [l["msg"], l["pid"], l["suppressed"]]),
    [
      ["identity granted", 1, undefined],
      ["identity granted", 12, undefined],
      ["identity granted", 13, undefined],
      ["identity refused", 20, undefined],
    ],
  );
  const refused = lines[3]!;
  assert.deepEqual([refused["code"], refused["reason"], refused["selectors"]], ["ERR_WORKLOAD_NO_IDENTITY", refusal.message, ["unix:uid:2000"]]);

  clock.advance(59_999);
  log.granted({ rpc: "FetchX509SVID", pid: 30, uid: 1000, selectors: WEB, spiffeIds: ids(1) });
  assert.equal(lines.length, 4, "still inside the window");
  clock.advance(1);
  log.granted({ rpc: "FetchX509SVID", pid: 31, uid: 1000, selectors: WEB, spiffeIds: ids(1) });
  log.refused({ rpc: "FetchX509SVID", pid: 32, uid: 2000, selectors: ["unix:uid:2000"], err: refusal });
  assert.deepEqual(
    lines.slice(4).map((l) => [l["msg"], l["pid"], l["suppressed"]]),
    [
      ["identity granted", 31, 11],
      ["identity refused", 32, 4],
    ],
  );
});

test("nothing is written or counted when info is disabled", () => {
  const lines: string[] = [];
  const logger = createLogger({ level: "warn", destination: { write: (l: string) => void lines.push(l) } });
  const log = createIdentityLog({ logger });
  log.granted({ rpc: "FetchX509SVID", pid: 1, uid: 1, spiffeIds: ids(1) });
  log.refused({ rpc: "FetchX509SVID", pid: 1, uid: 1, err: spindleError("ERR_WORKLOAD_API_NOT_READY", "not yet") });
  assert.deepEqual(lines, []);
});
