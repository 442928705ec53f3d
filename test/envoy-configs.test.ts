// Every scenario under envoy-configs/ must load as an Envoy v3 Bootstrap, and every SDS secret it
// asks the agent for must be servable from the registration entries its README creates.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { JsonValue } from "@bufbuild/protobuf";
import { parse } from "yaml";
import { decodeEnvoyConfig, envoyRegistry } from "../src/envoy/schema.js";
import { BootstrapSchema } from "../src/gen/envoy/config/bootstrap/v3/bootstrap_pb.js";
import { DEFAULT_AGENT_SOCKET } from "../src/envoy/bootstrap/index.js";
import { parseSpiffeId } from "../src/spiffe/index.js";

const ROOT = fileURLToPath(new URL("../envoy-configs", import.meta.url));
const TRUST_DOMAIN = "example.org";
const SCENARIOS = readdirSync(ROOT, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

interface Entry {
  spiffeId: string;
  parentId: string;
  selectors: string[];
  federatesWith: string[];
}

/** The `spindle entry create ...` commands of a README (shell line continuations joined). */
function readmeEntries(readme: string): Entry[] {
  const commands = readme.replace(/\\\n\s*/g, " ").split("\n").map((l) => l.trim()).filter((l) => l.startsWith("spindle entry create "));
  return commands.map((cmd) => {
    const words = cmd.split(/\s+/).slice(3);
    const entry: Entry = { spiffeId: "", parentId: "", selectors: [], federatesWith: [] };
    for (let i = 0; i < words.length; i += 2) {
      const [flag, value] = [words[i], words[i + 1]];
      assert.ok(value !== undefined && !value.startsWith("--"), `${flag} needs a value in: ${cmd}`);
      if (flag === "--spiffe-id") entry.spiffeId = value;
      else if (flag === "--parent-id") entry.parentId = value;
      else if (flag === "--selector") entry.selectors.push(value);
      else if (flag === "--federates-with") entry.federatesWith.push(value);
      else assert.equal(flag, "--dns", `unknown flag in: ${cmd}`);
    }
    return entry;
  });
}

/** Every value stored under `key` anywhere in the tree. */
function valuesOf(v: JsonValue, key: string, out: JsonValue[] = []): JsonValue[] {
  if (Array.isArray(v)) v.forEach((x) => valuesOf(x, key, out));
  else if (v !== null && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      if (k === key) out.push(x);
      valuesOf(x, key, out);
    }
  }
  return out;
}

const nameOf = (v: JsonValue): string => String((v as { name?: JsonValue }).name);
const domainOf = (id: string) => parseSpiffeId(id).trustDomain.name;

test("envoy-configs holds the sidecar, gateway and federated-gateway scenarios, each with envoy.yaml and README.md", () => {
  for (const s of ["sidecar", "gateway", "federated-gateway"]) assert.ok(SCENARIOS.includes(s), s);
  for (const s of SCENARIOS) {
    assert.ok(existsSync(join(ROOT, s, "envoy.yaml")), `${s}/envoy.yaml`);
    assert.ok(existsSync(join(ROOT, s, "README.md")), `${s}/README.md`);
  }
});

for (const scenario of SCENARIOS) {
  test(`${scenario}: envoy.yaml decodes as a Bootstrap, and its SDS names resolve against the README's entries`, () => {
    const text = readFileSync(join(ROOT, scenario, "envoy.yaml"), "utf8");
    decodeEnvoyConfig(BootstrapSchema, text, { registry: envoyRegistry(), source: `${scenario}/envoy.yaml` });
    const config = parse(text) as JsonValue;

    for (const tc of [...valuesOf(config, "typed_config"), ...valuesOf(config, "default_config")]) {
      assert.match(String((tc as { "@type"?: JsonValue })["@type"]), /^type\.googleapis\.com\/envoy\./, "every typed_config has an explicit @type");
    }
    const pipes = valuesOf(config, "pipe");
    assert.ok(pipes.length > 0, "the agent is reached over a pipe");
    for (const p of pipes) assert.deepEqual(p, { path: DEFAULT_AGENT_SOCKET });

    const entries = readmeEntries(readFileSync(join(ROOT, scenario, "README.md"), "utf8"));
    assert.ok(entries.length > 0, "the README registers at least one entry");
    for (const e of entries) {
      assert.equal(domainOf(e.spiffeId), TRUST_DOMAIN, e.spiffeId);
      assert.ok(!parseSpiffeId(e.spiffeId).isRoot, `${e.spiffeId} is a workload ID`);
      assert.equal(domainOf(e.parentId), TRUST_DOMAIN, e.parentId);
      assert.ok(e.selectors.length > 0, `${e.spiffeId} has selectors`);
      for (const sel of e.selectors) assert.match(sel, /^[a-z0-9_-]+:\S+$/, `selector ${sel}`);
    }
    const registered = new Set(entries.map((e) => e.spiffeId));
    const federated = new Set(entries.flatMap((e) => e.federatesWith));

    const certificates = valuesOf(config, "tls_certificate_sds_secret_configs").flatMap((v) => (v as JsonValue[]).map(nameOf));
    assert.ok(certificates.length > 0, "certificates come from SDS");
    for (const name of certificates) {
      if (name === "default") continue;
      assert.ok(registered.has(name), `certificate secret ${name} needs an entry with --spiffe-id ${name}`);
    }
    const bundles = valuesOf(config, "validation_context_sds_secret_config").map(nameOf);
    for (const name of bundles) {
      if (name === "ROOTCA") continue;
      if (name === "ALL") {
        assert.ok(federated.size > 0, "ALL serves federated bundles: some entry must have --federates-with");
        continue;
      }
      const id = parseSpiffeId(name);
      assert.ok(id.isRoot, `validation context ${name} must be ROOTCA, ALL or spiffe://<trust-domain>`);
      assert.ok(id.trustDomain.name === TRUST_DOMAIN || federated.has(id.trustDomain.name), `no bundle for ${name}`);
    }
    // A peer from another trust domain can only be verified with that domain's bundle.
    for (const peer of valuesOf(config, "exact").map(String).filter((v) => v.startsWith("spiffe://"))) {
      const td = domainOf(peer);
      if (td !== TRUST_DOMAIN) assert.ok(federated.has(td), `peer ${peer} needs an entry with --federates-with ${td}`);
    }
    if (scenario === "federated-gateway") assert.ok(bundles.includes("ALL"), "the federated gateway validates with ALL");
    if (scenario === "gateway") assert.ok(certificates.includes("default"), "the gateway uses the default certificate");
  });
}

test("the README parser reads flags, continuations and repeated selectors", () => {
  const entries = readmeEntries("text\n```sh\nspindle entry create --spiffe-id spiffe://a/b \\\n  --parent-id spiffe://a/n --selector unix:uid:1 --selector unix:gid:2 \\\n  --federates-with c.d\n```\n");
  assert.deepEqual(entries, [{ spiffeId: "spiffe://a/b", parentId: "spiffe://a/n", selectors: ["unix:uid:1", "unix:gid:2"], federatesWith: ["c.d"] }]);
});
