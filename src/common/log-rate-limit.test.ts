import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { createFakeClock } from "../../test/support/fake-clock.js";
import { createLogRateLimiter, createSeenOnce, logLimited, summarizeList } from "./log-rate-limit.js";
import { createLogger } from "./logger.js";

function capture(level: "debug" | "info" | "warn" = "debug") {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString("utf8").split("\n")) if (l !== "") lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger({ level, destination }) };
}

test("a key writes once per window; the next line after the window carries the count of dropped lines", () => {
  const clock = createFakeClock();
  const limiter = createLogRateLimiter({ windowMs: 10_000, clock });
  assert.equal(limiter.admit("a"), 0, "first line written, nothing dropped before it");
  assert.equal(limiter.admit("a"), undefined);
  clock.advance(9_999);
  assert.equal(limiter.admit("a"), undefined, "still inside the window");
  assert.equal(limiter.admit("b"), 0, "another key has its own window");
  clock.advance(1);
  assert.equal(limiter.admit("a"), 2, "window over: written, with the two dropped lines counted");
  assert.equal(limiter.admit("a"), undefined, "a new window starts at that line");
  clock.advance(10_000);
  assert.equal(limiter.admit("a"), 1);
  clock.advance(10_000);
  assert.equal(limiter.admit("a"), 0, "the count is reset once reported");
});

test("memory is bounded: past maxKeys the least recently written key is forgotten", () => {
  const clock = createFakeClock();
  const limiter = createLogRateLimiter({ windowMs: 60_000, maxKeys: 3, clock });
  for (const k of ["a", "b", "c"]) limiter.admit(k);
  limiter.admit("a");
  assert.equal(limiter.admit("d"), 0);
  assert.equal(limiter.size(), 3);
  assert.equal(limiter.admit("a"), 0, "a was the oldest written key: forgotten, so written again at once");
  assert.equal(limiter.admit("d"), undefined, "d is still remembered");
  assert.throws(() => createLogRateLimiter({ maxKeys: 0 }), TypeError);
});

test("logLimited writes the line at its level with `suppressed` only when lines were dropped", () => {
  const clock = createFakeClock();
  const { lines, logger } = capture("info");
  const limiter = createLogRateLimiter({ windowMs: 1_000, clock });
  assert.equal(logLimited(limiter, "k", logger, "warn", { x: 1 }, "careful"), true);
  for (let i = 0; i < 5; i++) assert.equal(logLimited(limiter, "k", logger, "warn", { x: 1 }, "careful"), false);
  clock.advance(1_000);
  logLimited(limiter, "k", logger, "warn", { x: 2 }, "careful");
  assert.deepEqual(
    lines.map((l) => [l["level"], l["msg"], l["x"], l["suppressed"]]),
    [
      ["warn", "careful", 1, undefined],
      ["warn", "careful", 2, 5],
    ],
  );
  assert.equal(logLimited(limiter, "other", logger, "debug", {}, "below the level"), false);
  assert.equal(lines.length, 2, "a line below the logger's level is neither written nor counted");
});

test("createSeenOnce: true once per key, bounded", () => {
  const seen = createSeenOnce(2);
  assert.equal(seen.first("x"), true);
  assert.equal(seen.first("x"), false);
  assert.equal(seen.first("y"), true);
  assert.equal(seen.first("z"), true);
  assert.equal(seen.size(), 2);
  assert.equal(seen.first("x"), true, "x was forgotten for room");
  assert.equal(seen.first("z"), false);
});

test("summarizeList: the first few listed, all counted", () => {
  assert.deepEqual(summarizeList(["a", "b"], 3), { shown: ["a", "b"], total: 2, more: 0 });
  assert.deepEqual(summarizeList(["a", "b", "c", "d", "e"], 3), { shown: ["a", "b", "c"], total: 5, more: 2 });
  assert.deepEqual(summarizeList([], 3), { shown: [], total: 0, more: 0 });
});
