import { test } from "node:test";
import assert from "node:assert/strict";
import { SpindleError } from "../common/errors.js";
import { createSerialQueue } from "./xds-stream-common.js";

test("serial queue: steps run in order, async ones block the next, a failure drops the rest", async () => {
  const order: string[] = [];
  const failures: SpindleError[] = [];
  const q = createSerialQueue((e) => failures.push(e));
  let release = () => {};
  const gate = new Promise<void>((r) => (release = r));
  q.run(async () => {
    await gate;
    order.push("slow");
  });
  q.run(() => void order.push("sync"));
  await new Promise((r) => setImmediate(r));
  assert.equal(order.length, 0, "the sync step waits for the slow one");
  const idle = q.idle();
  release();
  await idle;
  assert.deepEqual(order, ["slow", "sync"]);
  q.run(() => void order.push("now"));
  assert.deepEqual(order, ["slow", "sync", "now"], "an idle queue runs a sync step at once");
  q.run(async () => {
    throw new SpindleError("ERR_XDS_RESOURCE_NOT_FOUND", "gone");
  });
  q.run(() => void order.push("never"));
  await q.idle();
  assert.equal(failures.length, 1);
  assert.equal(failures[0]!.code, "ERR_XDS_RESOURCE_NOT_FOUND");
  q.run(() => void order.push("after-failure"));
  assert.deepEqual(order, ["slow", "sync", "now"]);
});
