// Registration entry throughput on SQLite and PostgreSQL: create 10,000 entries (validated, one
// transaction each), then list them all in pages of 500, filter by selector, and count.
// PostgreSQL runs on a throw-away local cluster (the test helper), with fsync off.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { systemClock } from "../src/common/clock.js";
import { createDatastore, type DatastoreLocation } from "../src/ca/datastore/index.js";
import { createRegistration } from "../src/ca/registration/index.js";
import { startPostgres } from "../test/integration/helpers/postgres.js";

const N = 10_000;
const PAGE = 500;
const CONCURRENCY = 8;

async function run(location: DatastoreLocation): Promise<Record<string, number>> {
  const ds = await createDatastore({ location, clock: systemClock });
  const reg = createRegistration({ datastore: ds, clock: systemClock, limits: { trustDomain: "example.org", maxX509SvidTtl: 14400, maxJwtSvidTtl: 14400 } });
  const input = (i: number) => ({
    spiffeId: `spiffe://example.org/ns/team${i % 50}/svc${i}`,
    parentId: `spiffe://example.org/spindle/agent/node${i % 100}`,
    selectors: [
      { type: "k8s", value: `ns:team${i % 50}` },
      { type: "k8s", value: `sa:svc${i}` },
    ],
    x509SvidTtl: 3600,
  });
  try {
    let t = performance.now();
    for (let i = 0; i < N / 2; i++) await reg.createEntry(input(i));
    const sequentialMs = performance.now() - t;

    t = performance.now();
    let next = N / 2;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < N) await reg.createEntry(input(next++));
      }),
    );
    const concurrentMs = performance.now() - t;

    t = performance.now();
    let listed = 0;
    let pageToken = "";
    do {
      const page = await reg.listEntries({}, { pageSize: PAGE, pageToken });
      listed += page.entries.length;
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    const listMs = performance.now() - t;
    if (listed !== N) throw new Error(`listed ${listed} entries, expected ${N}`);

    t = performance.now();
    const filtered = await reg.listEntries({ selectors: [{ type: "k8s", value: "ns:team7" }] });
    const filterMs = performance.now() - t;
    if (filtered.entries.length !== N / 50) throw new Error(`selector filter returned ${filtered.entries.length}`);

    t = performance.now();
    const count = await reg.countEntries({ parentId: "spiffe://example.org/spindle/agent/node3" });
    const countMs = performance.now() - t;
    if (count !== N / 100) throw new Error(`count returned ${count}`);

    const r = (n: number) => Math.round(n);
    return {
      entries: N,
      createSequentialPerSec: r((N / 2 / sequentialMs) * 1000),
      [`createConcurrency${CONCURRENCY}PerSec`]: r((N / 2 / concurrentMs) * 1000),
      listAllMs: r(listMs),
      listEntriesPerSec: r((N / listMs) * 1000),
      selectorFilterMs: Math.round(filterMs * 10) / 10,
      countByParentMs: Math.round(countMs * 10) / 10,
    };
  } finally {
    await ds.close();
  }
}

export default async function datastoreBench(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), "spindle-bench-ds-"));
  const pg = await startPostgres();
  try {
    return {
      sqlite: await run({ kind: "sqlite", path: join(dir, "bench.sqlite3") }),
      postgres: await run({ kind: "postgres", url: pg.url }),
    };
  } finally {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
