// kill -9 of the server during a burst of entry writes over the admin API (real process, SQLite):
// every write the server acknowledged is present after it restarts on the same data dir.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import { createAdminClient } from "../../../src/ca/admin/index.js";
import { reportTiming, sleep, startFaultDomain, TD, type FaultDomain } from "./harness.js";

let d: FaultDomain | undefined;
after(async () => d?.close());

test("every acknowledged entry write survives kill -9 of the server", { timeout: 120_000 }, async () => {
  d = await startFaultDomain();
  const dom = d;
  const socketPath = join(dom.dir, "server-private", "admin.sock");
  const client = createAdminClient({ socketPath });
  const acked = new Set<string>();
  let failed = 0;
  let stop = false;
  let n = 0;
  const writer = async () => {
    while (!stop) {
      const i = n++;
      try {
        const e = await client.createEntry({ entry: { spiffeId: `spiffe://${TD}/burst/${i}`, parentId: `spiffe://${TD}/agent`, selectors: [{ type: "unix", value: `uid:${10_000 + i}` }] } });
        acked.add(e.id);
      } catch {
        failed++;
        if (dom.server.child.exitCode !== null || dom.server.child.signalCode !== null) return;
      }
    }
  };
  const writers = Array.from({ length: 8 }, () => writer());
  await sleep(2_000);
  assert.ok(acked.size > 20, `the burst is under way (${acked.size} acknowledged)`);
  const killedAt = Date.now();
  assert.equal(await dom.server.stop("SIGKILL"), null, "killed mid-burst");
  stop = true;
  await Promise.all(writers);
  const ackedAtKill = acked.size;
  await dom.startServer();
  const restartMs = Date.now() - killedAt;
  const after2 = createAdminClient({ socketPath });
  const present = new Set<string>();
  let pageToken = "";
  do {
    const page = await after2.listEntries({ pageSize: 500, pageToken });
    for (const e of page.entries) present.add(e.id);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  const missing = [...acked].filter((id) => !present.has(id));
  assert.deepEqual(missing, [], `${missing.length} of ${ackedAtKill} acknowledged writes lost`);
  reportTiming("server-kill9-during-writes", { acknowledged: ackedAtKill, unacknowledgedOrFailed: failed, presentAfterRestart: present.size, restartToReadyMs: restartMs });
});
