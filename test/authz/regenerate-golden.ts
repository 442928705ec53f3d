// Rewrites the golden files under test/authz/golden/ from their *.policy.yaml inputs. Run after
// an intended change to the compiler, then review the diff: `npx tsx test/authz/regenerate-golden.ts`.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { goldenCases, renderGolden } from "./golden.js";

const dir = new URL("./golden/", import.meta.url);
for (const c of goldenCases(readdirSync(dir))) {
  writeFileSync(new URL(c.expected, dir), renderGolden(readFileSync(new URL(c.input, dir), "utf8"), c.input, c.filter));
  console.log(`wrote ${c.expected}`);
}
