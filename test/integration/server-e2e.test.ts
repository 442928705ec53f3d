// `spindle server run` end to end on SQLite and PostgreSQL, plus start failures.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { e2eSuite } from "./helpers/e2e-suite.js";
import { runCli, startServerProcess } from "./helpers/cli-process.js";
import { startPostgres, type TempPostgres } from "./helpers/postgres.js";

e2eSuite("sqlite", async () => undefined);

let pg: TempPostgres | undefined;
before(async () => {
  pg = await startPostgres();
});
after(async () => pg?.stop());
e2eSuite("postgres", async () => pg!.createDatabase("e2e"));

test("a bad config or a failed start exits non-zero with every reason", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spindle-e2e-bad-"));
  try {
    const config = join(dir, "bad.yaml");
    writeFileSync(config, "trust_domain: Bad!\nca_ttl: soon\nfavourite: 1\n");
    const r = await runCli(["server", "run", "--config", config, "--bind", "nowhere", "--admin-socket", join(dir, "s", "admin.sock")]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^error \[ERR_CONFIG_INVALID\]: invalid configuration/);
    for (const p of ["trust_domain:", "ca_ttl:", "favourite: unknown key", "bind_address:"]) assert.ok(r.stderr.includes(`  - ${p}`), `${p} in\n${r.stderr}`);

    const down = await runCli(["server", "run", "--trust-domain", "example.org", "--data-dir", join(dir, "d"), "--admin-socket", join(dir, "s2", "admin.sock"), "--datastore", "postgres://nobody@127.0.0.1:1/none", "--log-level", "silent"]);
    assert.equal(down.status, 1);
    assert.match(down.stderr, /error \[ERR_DATASTORE\]: cannot open datastore postgres:\/\/nobody@127\.0\.0\.1:1\/none/);

    const viaFlags = await startServerProcess(["--trust-domain", "example.org", "--data-dir", join(dir, "d3"), "--admin-socket", join(dir, "s3", "admin.sock"), "--log-level", "warn", "--datastore", `sqlite:${join(dir, "flags.sqlite3")}`]);
    assert.equal(await viaFlags.stop("SIGINT"), 0, "SIGINT shuts down cleanly too");

    const unreachable = await runCli(["entry", "count", "--admin-socket", join(dir, "none.sock")]);
    assert.equal(unreachable.status, 1);
    assert.match(unreachable.stderr, /^error \[ERR_ADMIN_UNREACHABLE\]: cannot reach the server admin socket .*none\.sock/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
