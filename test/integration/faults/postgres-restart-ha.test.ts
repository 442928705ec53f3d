// PostgreSQL restarted under an HA pair of real `spindle server run` replicas sharing one
// database (fast shutdown, which cuts every pooled connection): once it is back both are ready
// again and serve writes and reads on their own (pooled connections reconnect), with no restart of
// either replica. Prints how long each took to recover after PostgreSQL accepted connections again.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { createAdminClient } from "../../../src/ca/admin/index.js";
import { startServerProcess, type ServerProcess } from "../helpers/cli-process.js";
import { startPostgres, type TempPostgres } from "../helpers/postgres.js";
import { reportTiming, waitFor } from "./harness.js";

const dir = mkdtempSync(join(tmpdir(), "spindle-fault-pg-"));
let pg: TempPostgres | undefined;
const replicas: ServerProcess[] = [];
after(async () => {
  for (const r of replicas) await r.stop("SIGKILL");
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("both replicas recover from a PostgreSQL restart without a manual step", { timeout: 180_000 }, async () => {
  pg = await startPostgres();
  const db = pg;
  const names = ["replica-a", "replica-b"];
  const admins: string[] = [];
  for (const name of names) {
    const base = join(dir, name);
    mkdirSync(join(base, "private"), { recursive: true, mode: 0o700 });
    const admin = join(base, "private", "admin.sock");
    admins.push(admin);
    const file = join(base, "server.yaml");
    writeFileSync(file, ["trust_domain: example.org", `server_id: ${name}`, `data_dir: ${join(base, "data")}`, "bind_address: 127.0.0.1:0", `admin_socket: ${admin}`, "health_address: 127.0.0.1:0", `datastore: ${db.url}`, "peer_refresh_interval: 1s"].join("\n"));
    replicas.push(await startServerProcess(["--config", file]));
  }
  const healthPorts = replicas.map((r) => Number(/health 127\.0\.0\.1:(\d+)/.exec(r.output())![1]));
  const ready = (port: number) => fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.status === 200, () => false);
  const clients = admins.map((socketPath) => createAdminClient({ socketPath, timeoutMs: 5_000 }));
  for (const p of healthPorts) assert.ok(await ready(p));

  await db.restart();
  const backAt = Date.now();
  const recovered = await Promise.all(
    clients.map(async (c, i) => {
      await waitFor(`${names[i]} ready again`, 60_000, async () => ((await ready(healthPorts[i]!)) ? true : undefined), 200);
      const e = await waitFor(`${names[i]} writes again`, 60_000, () =>
        c.createEntry({ entry: { spiffeId: `spiffe://example.org/after-restart/${i}`, parentId: "spiffe://example.org/agent", selectors: [{ type: "unix", value: `uid:${500 + i}` }] } }),
      200);
      return { id: e.id, ms: Date.now() - backAt };
    }),
  );
  // Each replica reads the other's write.
  assert.equal((await clients[0]!.getEntry({ id: recovered[1]!.id })).spiffeId, "spiffe://example.org/after-restart/1");
  assert.equal((await clients[1]!.getEntry({ id: recovered[0]!.id })).spiffeId, "spiffe://example.org/after-restart/0");
  for (const r of replicas) assert.equal(r.child.exitCode, null, "no replica exited");
  reportTiming("postgres-restart-under-ha-pair", { replicaARecoveredMs: recovered[0]!.ms, replicaBRecoveredMs: recovered[1]!.ms });
});
