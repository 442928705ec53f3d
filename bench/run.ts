// `npm run bench [name...]`: runs every bench/*.bench.ts (or those whose name contains an argument)
// in sequence and prints one JSON document: { machine, results: { <bench>: <its JSON> } }.
// Each bench module default-exports `async () => Record<string, unknown>`.
import { readdirSync } from "node:fs";
import os from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";
import { join } from "node:path";

const dir = fileURLToPath(new URL(".", import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
const results: Record<string, unknown> = {};
for (const f of files) {
  const mod = (await import(pathToFileURL(join(dir, f)).href)) as { default: () => Promise<Record<string, unknown>> };
  const name = f.replace(/\.bench\.ts$/, "");
  process.stderr.write(`bench: running ${name}\n`);
  results[name] = await mod.default();
}
const machine = { node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, totalMemBytes: os.totalmem() };
process.stdout.write(JSON.stringify({ machine, results }, null, 2) + "\n");
