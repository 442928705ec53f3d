#!/usr/bin/env node
// Generates protobuf-es TypeScript into src/gen/ from proto/ (ours) and Envoy's API protos.
//
// Envoy's protos come at build time from the @grpc/grpc-js-xds registry package (deps/). Its
// bundled validate/validate.proto predates its Envoy protos, so the current one is taken from the
// Go module github.com/envoyproxy/protoc-gen-validate (Go module proxy) and staged beside them.
// Nothing third-party is committed: everything is staged under .gen-work/ (git-ignored).
//
//   node scripts/generate.mjs          regenerate src/gen/
//   node scripts/generate.mjs --check  regenerate into a temp dir and fail if src/gen/ differs
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const VALIDATE_MODULE = "github.com/envoyproxy/protoc-gen-validate@v1.2.1";
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "package.json"));
const check = process.argv.includes("--check");

function fail(message) {
  process.stderr.write(`generate: ${message}\n`);
  process.exit(1);
}

function stageThirdParty() {
  const xdsPkg = dirname(require.resolve("@grpc/grpc-js-xds/package.json"));
  const deps = join(xdsPkg, "deps");
  const staged = join(root, ".gen-work", "thirdparty");
  rmSync(join(root, ".gen-work"), { recursive: true, force: true });
  mkdirSync(staged, { recursive: true });
  for (const dir of ["envoy-api", "xds", "googleapis"]) {
    const src = join(deps, dir);
    if (!existsSync(src)) fail(`${src} is missing; is @grpc/grpc-js-xds installed?`);
    cpSync(src, staged, { recursive: true });
  }
  let modDir;
  try {
    const out = execFileSync("go", ["mod", "download", "-json", VALIDATE_MODULE], {
      cwd: join(root, ".gen-work"),
      env: { ...process.env, GOFLAGS: "-mod=mod", GO111MODULE: "on" },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    modDir = JSON.parse(out).Dir;
  } catch (err) {
    fail(`could not fetch ${VALIDATE_MODULE} from the Go module proxy (needs the go tool): ${err.message}`);
  }
  mkdirSync(join(staged, "validate"), { recursive: true });
  cpSync(join(modDir, "validate", "validate.proto"), join(staged, "validate", "validate.proto"));
}

function listFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out.sort();
}

function runBuf(outDir) {
  const buf = join(root, "node_modules", ".bin", "buf");
  const pluginDir = join(root, "node_modules", ".bin");
  const args = ["generate"];
  if (outDir) {
    const template = readFileSync(join(root, "buf.gen.yaml"), "utf8").replace(/out: src\/gen/, `out: ${outDir}`);
    const templatePath = join(root, ".gen-work", "buf.gen.check.yaml");
    writeFileSync(templatePath, template);
    args.push("--template", templatePath);
  }
  execFileSync(buf, args, {
    cwd: root,
    env: { ...process.env, PATH: `${pluginDir}:${process.env.PATH}`, BUF_CACHE_DIR: join(root, ".gen-work", "cache") },
    stdio: "inherit",
  });
}

stageThirdParty();
if (!check) {
  runBuf();
  process.stdout.write(`generate: wrote ${listFiles(join(root, "src", "gen")).length} files to src/gen\n`);
} else {
  const tmp = mkdtempSync(join(tmpdir(), "spindle-gen-"));
  try {
    runBuf(tmp);
    const want = listFiles(tmp).map((f) => relative(tmp, f));
    const genDir = join(root, "src", "gen");
    const have = existsSync(genDir) ? listFiles(genDir).map((f) => relative(genDir, f)) : [];
    const problems = [];
    for (const f of want) {
      if (!have.includes(f)) problems.push(`missing: src/gen/${f}`);
      else if (!readFileSync(join(tmp, f)).equals(readFileSync(join(genDir, f)))) problems.push(`stale: src/gen/${f}`);
    }
    for (const f of have) if (!want.includes(f)) problems.push(`unexpected: src/gen/${f}`);
    if (problems.length > 0) fail(`src/gen is out of date; run \`npm run generate\` and commit:\n  ${problems.join("\n  ")}`);
    process.stdout.write(`generate: src/gen is up to date (${want.length} files)\n`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
