// Comments must point at something a reader of the repository has: a file or folder that exists
// here (docs/..., src/..., README.md), or an upstream specification named by its title and
// section. A comment naming a Markdown file or a repository path that does not exist, a planning
// brief, or a tracker number fails this test with the file, the line and the reference.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, extname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const SCANNED_DIRS = ["src", "test", "bench", "scripts"];
/** Generated, vendored or built trees: not written by us, or not in the repository. */
const SKIPPED_DIRS = new Set(["node_modules", "gen", "vendor", "dist", "bin", "target", ".gen-work"]);
const SLASH_COMMENT = new Set([".ts", ".mts", ".js", ".mjs", ".cjs", ".go", ".java"]);
const HASH_COMMENT = new Set([".sh", ".py"]);
/** Top-level entries a comment may name as `<entry>/...`. */
const REPO_ROOTS = ["src", "test", "bench", "scripts", "docs", "proto", "conf", "envoy-configs", "docker"];
/** Documents that exist only outside the repository; named here in pieces so this file passes. */
const OUTSIDE_DOCS = ["PROTOCOLS", "STYLE", "ARCHITECTURE"].map((n) => `${n}.md`);

interface BadReference {
  file: string;
  line: number;
  reference: string;
  reason: string;
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    if (d.isDirectory()) {
      if (!SKIPPED_DIRS.has(d.name)) out.push(...walk(join(dir, d.name)));
    } else if (SLASH_COMMENT.has(extname(d.name)) || HASH_COMMENT.has(extname(d.name))) {
      out.push(join(dir, d.name));
    }
  }
  return out;
}

/** The comment text of each line (empty when the line has none). Good enough for our sources. */
function commentsOf(file: string, text: string): string[] {
  const lines = text.split("\n");
  if (HASH_COMMENT.has(extname(file))) return lines.map((l) => (/^\s*#/.test(l) ? l.replace(/^\s*#!?/, "") : ""));
  let inBlock = false;
  return lines.map((l) => {
    let out = "";
    let rest = l;
    if (inBlock) {
      const end = rest.indexOf("*/");
      if (end < 0) return rest;
      out += rest.slice(0, end);
      rest = rest.slice(end + 2);
      inBlock = false;
    }
    const start = rest.search(/(^|\s)\/\*/);
    const line = rest.search(/(^|[\s;,(){}])\/\//);
    if (start >= 0 && (line < 0 || start < line)) {
      const body = rest.slice(start).replace(/^\s*\/\*+/, "");
      const end = body.indexOf("*/");
      if (end >= 0) out += " " + body.slice(0, end);
      else {
        out += " " + body;
        inBlock = true;
      }
    } else if (line >= 0) {
      out += " " + rest.slice(line).replace(/^[\s;,(){}]?\/\//, "");
    }
    return out;
  });
}

function allBasenames(root: string): Set<string> {
  const names = new Set<string>();
  const visit = (dir: string): void => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      if (d.name === "node_modules" || d.name === ".git") continue;
      if (d.isDirectory()) visit(join(dir, d.name));
      else names.add(d.name);
    }
  };
  visit(root);
  return names;
}

const PATH_RE = new RegExp(String.raw`(?<![\w./@-])(?:${REPO_ROOTS.join("|")})/[\w./-]*[\w-]`, "g");
const MD_RE = /(?<![\w./@-])[\w./-]*[\w-]\.md\b/g;
const TRACKER_RES = [/\bissues?\s*#?\d+/gi, /(?<![\w&#]|PKCS )#\d+\b/g];
const URL_RE = /\b[a-z][a-z\d+.-]*:\/\/\S+/gi;

/** A path as comments write it: TypeScript imports name `.js` for `.ts`; `<path>*` is a glob. */
function pathExists(root: string, ref: string, glob: boolean): boolean {
  const abs = join(root, ref);
  if (existsSync(abs) || (ref.endsWith(".js") && existsSync(abs.replace(/\.js$/, ".ts")))) return true;
  return glob && existsSync(dirname(abs)) && readdirSync(dirname(abs)).some((n) => n.startsWith(basename(abs)));
}

/** Every reference in the comments under `root`'s scanned folders that a reader cannot follow. */
function findBadReferences(root: string): BadReference[] {
  const bad: BadReference[] = [];
  const basenames = allBasenames(root);
  for (const abs of SCANNED_DIRS.flatMap((d) => walk(join(root, d)))) {
    const file = relative(root, abs);
    commentsOf(abs, readFileSync(abs, "utf8")).forEach((raw, i) => {
      if (raw === "") return;
      const comment = raw.replace(URL_RE, " ");
      const at = { file, line: i + 1 };
      for (const doc of OUTSIDE_DOCS) {
        if (comment.toLowerCase().includes(doc.toLowerCase())) {
          bad.push({ ...at, reference: doc, reason: "a document outside the repository; cite the upstream specification or docs/" });
        }
      }
      for (const re of TRACKER_RES) {
        for (const m of comment.matchAll(re)) {
          bad.push({ ...at, reference: m[0], reason: "a tracker number; say what the code does and cite a specification or docs/" });
        }
      }
      const seen = new Set<string>();
      for (const m of comment.matchAll(PATH_RE)) {
        const ref = m[0].replace(/\.+$/, "");
        seen.add(ref);
        const glob = comment[(m.index ?? 0) + m[0].length] === "*";
        if (!pathExists(root, ref, glob)) bad.push({ ...at, reference: ref, reason: "no such file or folder in the repository" });
      }
      for (const m of comment.matchAll(MD_RE)) {
        const ref = m[0];
        if (seen.has(ref) || OUTSIDE_DOCS.some((d) => d.toLowerCase() === basename(ref).toLowerCase())) continue;
        const found = ref.includes("/")
          ? existsSync(join(root, ref)) || existsSync(join(dirname(abs), ref))
          : basenames.has(ref);
        if (!found) bad.push({ ...at, reference: ref, reason: "no such Markdown file in the repository" });
      }
    });
  }
  return bad;
}

const describe = (bad: BadReference[]): string =>
  bad.map((b) => `${b.file}:${b.line}: ${b.reference} (${b.reason})`).join("\n");

test("no comment in src/, test/, bench/ or scripts/ names something the repository does not have", () => {
  const bad = findBadReferences(REPO);
  assert.equal(bad.length, 0, `comments with references a reader cannot follow:\n${describe(bad)}`);
});

test("the check reports each kind of bad reference with its file and line", () => {
  const root = mkdtempSync(join(tmpdir(), "spindle-comment-refs-"));
  try {
    mkdirSync(join(root, "src", "a"), { recursive: true });
    mkdirSync(join(root, "docs"), { recursive: true });
    mkdirSync(join(root, "scripts"), { recursive: true });
    writeFileSync(join(root, "docs", "real.md"), "# real\n");
    writeFileSync(join(root, "src", "a", "real.ts"), "export {};\n");
    const brief = OUTSIDE_DOCS[0];
    const sl = "/".repeat(2);
    writeFileSync(
      join(root, "src", "a", "x.ts"),
      [
        `${sl} Follows docs/real.md, src/a/real.js and src/a/re*; PKCS #8; https://example.org/docs/x.md.`,
        `${sl} Wire facts: ${brief} section 6.`,
        "/** See docs/missing.md",
        " * and src/a/gone.ts, as issue 12 asked. */",
        `const s = "docs/not-a-comment.md"; ${sl} the string is code, this comment names #34`,
        "export { s };",
      ].join("\n"),
    );
    writeFileSync(join(root, "scripts", "x.sh"), "#!/bin/sh\n# reads conf/nothing.yaml\necho docs/ignored.md\n");
    const got = findBadReferences(root).map((b) => `${b.file}:${b.line} ${b.reference}`).sort();
    assert.deepEqual(got, [
      "scripts/x.sh:2 conf/nothing.yaml",
      `src/a/x.ts:2 ${brief}`,
      "src/a/x.ts:3 docs/missing.md",
      "src/a/x.ts:4 issue 12",
      "src/a/x.ts:4 src/a/gone.ts",
      "src/a/x.ts:5 #34",
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
