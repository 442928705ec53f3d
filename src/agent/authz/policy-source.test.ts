import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { captureLogger } from "../../../test/support/sync-harness.js";
import { createPolicySource } from "./policy-source.js";

const caller = { peer: { pid: 1, uid: 1000, gid: 1000 }, selectors: ["unix:uid:1000"] };

test("an Envoy that is no service in the policy gets deny-all; the warning is logged once per service and policy, then at debug", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "spindle-policy-source-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "policy.yaml");
  writeFileSync(path, "version: 1\nservices:\n  spiffe://example.org/web:\n    allow:\n      - from: [spiffe://example.org/frontend]\n");
  const { logger, lines } = captureLogger();
  let service: string | undefined = "spiffe://example.org/unknown";
  const source = createPolicySource({ path, logger, serviceFor: () => service });
  await source.reload();
  const warnings = () => lines.filter((l) => l.msg === "no policy for this service; serving deny-all").map((l) => l.level);

  for (let i = 0; i < 3; i++) assert.ok(await source.get("spindle.authz.allow", caller));
  assert.deepEqual(warnings(), ["warn", "debug", "debug"], "re-resolving the same stream does not repeat the warning");
  service = undefined;
  await source.get("spindle.authz.allow", caller);
  assert.equal(warnings().at(-1), "warn", "a different service (here: none) is warned about");
  service = "spiffe://example.org/unknown";
  writeFileSync(path, "version: 1\nservices:\n  spiffe://example.org/web:\n    allow:\n      - from: [spiffe://example.org/other]\n");
  assert.equal(await source.reload(), true);
  await source.get("spindle.authz.allow", caller);
  assert.equal(warnings().at(-1), "warn", "a new policy warns again");
  source.close();
});
