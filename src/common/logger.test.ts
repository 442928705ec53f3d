import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { componentLogger, createLogger } from "./logger.js";

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString("utf8"));
      done();
    },
  });
  return { stream, lines: () => chunks.join("").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test("JSON lines with level label, ISO time, base fields and child component fields", () => {
  const out = capture();
  const root = createLogger({ level: "info", destination: out.stream, base: { service: "spindle-test" } });
  const child = componentLogger(root, "sds", { streamId: 7 });
  child.info({ resource: "default" }, "pushed");
  child.debug("below the level");
  const [line, ...rest] = out.lines();
  assert.equal(rest.length, 0, "debug is filtered at level info");
  assert.equal(line!.level, "info");
  assert.equal(line!.service, "spindle-test");
  assert.equal(line!.component, "sds");
  assert.equal(line!.streamId, 7);
  assert.equal(line!.resource, "default");
  assert.equal(line!.msg, "pushed");
  assert.ok(!Number.isNaN(Date.parse(String(line!.time))), "time is an ISO timestamp");
});

test("key material and tokens are redacted even when a caller logs them by mistake", () => {
  const out = capture();
  const log = createLogger({ destination: out.stream });
  log.info({ svid: { privateKey: "-----BEGIN PRIVATE KEY-----", x509SvidKey: "AAAA" }, req: { joinToken: "secret-token", password: "pw" } }, "oops");
  const text = JSON.stringify(out.lines());
  for (const secret of ["BEGIN PRIVATE KEY", "AAAA", "secret-token", "\"pw\""]) assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
  assert.ok(text.includes("[redacted]"));
});
