#!/usr/bin/env node
// Entry point. Runs the JavaScript that `npm install` (the `prepare` script) and `npm test`
// compile to dist/ (scripts/build.mjs). When dist/ is missing, or a source under src/ changed
// after the last build, it runs the TypeScript sources through tsx's loader instead, so a checkout
// being edited never runs stale code. The check is a stat of each source file (a few ms).
import { readFileSync, readdirSync, statSync } from "node:fs";

const src = new URL("../src/", import.meta.url);
const dist = new URL("../dist/", import.meta.url);

function builtAt() {
  try {
    return JSON.parse(readFileSync(new URL("build-info.json", dist), "utf8")).builtAtMs;
  } catch {
    return undefined;
  }
}

function newerThan(dirUrl, ms) {
  for (const ent of readdirSync(dirUrl, { withFileTypes: true })) {
    if (ent.isDirectory()) {
      if (newerThan(new URL(`${ent.name}/`, dirUrl), ms)) return true;
    } else if (ent.name.endsWith(".ts") && !ent.name.endsWith(".test.ts") && statSync(new URL(ent.name, dirUrl)).mtimeMs > ms) {
      return true;
    }
  }
  return false;
}

const built = builtAt();
let fresh = built !== undefined;
if (fresh) {
  try {
    fresh = !newerThan(src, built);
  } catch {
    // no src/ (an installed copy that ships only dist/): dist/ is what there is.
  }
}
if (fresh) {
  await import("../dist/cli/main.js");
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/cli/main.ts");
}
