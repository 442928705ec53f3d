// The dependency direction of docs/module-map.md, checked on the real import graph of src/:
// every production import crosses modules only along an allowed arrow, nothing imports cli/ or
// test/, and no production file reaches itself again through its imports (no circle).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const SRC = join(REPO, "src");

/** Module (top-level folder of src/) -> the modules its production files may import. */
export const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  gen: [],
  common: ["gen"],
  spiffe: ["common", "gen"],
  transport: ["common", "spiffe", "gen"],
  envoy: ["common", "spiffe", "gen"],
  sds: ["common", "spiffe", "transport", "gen"],
  authz: ["common", "spiffe", "envoy", "gen"],
  ca: ["common", "spiffe", "transport", "gen"],
  agent: ["common", "spiffe", "transport", "sds", "authz", "gen"],
  "workload-client": ["common", "spiffe", "transport", "gen"],
  helper: ["common", "spiffe", "transport", "workload-client", "gen"],
  cli: ["common", "spiffe", "transport", "envoy", "sds", "authz", "ca", "agent", "workload-client", "helper", "gen"],
};

const isProduction = (rel: string): boolean => rel.endsWith(".ts") && !rel.endsWith(".test.ts") && !rel.endsWith(".d.ts") && !rel.startsWith("gen/");

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

// Static imports and re-exports (`import ... from`, `export ... from`, side-effect `import "x"`)
// and dynamic `import("x")` with a literal relative specifier.
const SPECIFIER = /(?:\b(?:import|export)\b[^;"'`]*?\bfrom\s*["'](\.{1,2}\/[^"']+)["'])|(?:\bimport\s*\(\s*["'](\.{1,2}\/[^"']+)["']\s*\))|(?:^\s*import\s*["'](\.{1,2}\/[^"']+)["'])/gm;

/** Relative imports of one file, resolved to repository paths (".js" -> ".ts", folders -> index.ts). */
export function importsOf(fileAbs: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(SPECIFIER)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec === undefined) continue;
    let target = normalize(join(dirname(fileAbs), spec));
    if (target.endsWith(".js")) target = `${target.slice(0, -3)}.ts`;
    else if (!target.endsWith(".ts") && !target.endsWith(".json")) target = `${target}/index.ts`;
    out.push(relative(REPO, target));
  }
  return out;
}

const moduleOf = (repoPath: string): string | undefined => (repoPath.startsWith("src/") ? repoPath.split("/")[1] : undefined);

function productionGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const abs of walk(SRC)) {
    const rel = relative(SRC, abs);
    if (!isProduction(rel)) continue;
    graph.set(`src/${rel}`, importsOf(abs, readFileSync(abs, "utf8")));
  }
  return graph;
}

/** Strongly connected components with more than one file, or a file importing itself. */
export function circles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      for (;;) {
        const w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
        if (w === v) break;
      }
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

test("every production import follows an allowed arrow of the module map", () => {
  const graph = productionGraph();
  assert.ok(graph.size > 100, "the walk found the production files");
  const problems: string[] = [];
  const modules = new Set<string>();
  for (const [file, imports] of graph) {
    const from = moduleOf(file)!;
    modules.add(from);
    const allowed = ALLOWED[from];
    if (allowed === undefined) {
      problems.push(`${file}: module "${from}" is not in the module map (add it to docs/module-map.md and ALLOWED here)`);
      continue;
    }
    for (const target of imports) {
      if (target.startsWith("test/")) {
        problems.push(`${file} imports test code (${target})`);
        continue;
      }
      const to = moduleOf(target);
      if (to === undefined || to === from) continue;
      if (!allowed.includes(to)) problems.push(`${file} -> ${target}: ${from} may not import ${to}`);
    }
  }
  assert.deepEqual(problems, []);
  for (const m of ["common", "spiffe", "transport", "envoy", "sds", "authz", "ca", "agent", "cli"]) assert.ok(modules.has(m), `module ${m} has production files`);
});

test("no production file reaches itself through its imports", () => {
  assert.deepEqual(circles(productionGraph()), []);
});

test("the checks catch a forbidden arrow and a circle", () => {
  assert.deepEqual(importsOf(join(SRC, "agent/x.ts"), 'import { a } from "../cli/io.js";\nexport * from "./y.js";\nconst m = await import("../ca/z.js");\nimport "./side.js";'), [
    "src/cli/io.ts",
    "src/agent/y.ts",
    "src/ca/z.ts",
    "src/agent/side.ts",
  ]);
  assert.ok(!ALLOWED.agent!.includes("cli") && !ALLOWED.agent!.includes("ca"));
  const graph = new Map([
    ["a", ["b"]],
    ["b", ["c"]],
    ["c", ["a"]],
    ["d", ["a"]],
  ]);
  assert.deepEqual(circles(graph), [["a", "b", "c"]]);
  assert.deepEqual(circles(new Map([["a", ["b"]], ["b", []]])), []);
});
