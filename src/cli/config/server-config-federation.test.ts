// `federation.federates_with` in the server config: valid relationships load (bootstrap bundles
// read and re-encoded); every problem is reported with its path.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SpindleError } from "../../common/errors.js";
import { decodeSpiffeBundle, encodeSpiffeBundle, parseTrustDomain } from "../../spiffe/index.js";
import { createTestBundle, createTestCa } from "../../../test/support/spiffe/index.js";
import { loadServerConfig } from "./server-config.js";

const dir = mkdtempSync(join(tmpdir(), "spindle-fedconf-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const ca = createTestCa({ trustDomain: "b.test" });
writeFileSync(join(dir, "b.json"), encodeSpiffeBundle(createTestBundle({ cas: [ca], sequenceNumber: 3 })));
writeFileSync(join(dir, "b.pem"), ca.pem);

function load(yaml: string) {
  const file = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, `trust_domain: a.test\n${yaml}`);
  return loadServerConfig({ configFile: file, flags: {}, env: {}, cwd: dir });
}

function problems(yaml: string): string[] {
  try {
    load(yaml);
  } catch (err) {
    assert.ok(SpindleError.is(err, "ERR_CONFIG_INVALID"), String(err));
    return err.details.problems as string[];
  }
  assert.fail("expected ERR_CONFIG_INVALID");
}

test("federates_with: https_spiffe with a SPIFFE bootstrap bundle and https_web with a PEM one load", () => {
  const c = load(`federation:
  federates_with:
    b.test:
      bundle_endpoint_url: https://b.example:8443/
      bundle_endpoint_profile: https_spiffe
      endpoint_spiffe_id: spiffe://b.test/spindle/server
      trust_domain_bundle_path: b.json
    c.test:
      bundle_endpoint_url: https://bundles.example/c
      bundle_endpoint_profile: https_web
`);
  const [b, cc] = c.federatesWith!;
  assert.equal(b!.relationship.source, "config");
  assert.equal(b!.relationship.endpointSpiffeId, "spiffe://b.test/spindle/server");
  assert.equal(decodeSpiffeBundle(parseTrustDomain("b.test"), b!.bootstrapBundle!).sequenceNumber, 3);
  assert.equal(cc!.relationship.profile, "https_web");
  assert.equal(cc!.bootstrapBundle, undefined);
});

test("federates_with: a PEM bootstrap bundle needs trust_domain_bundle_format: pem", () => {
  const base = `federation:
  federates_with:
    b.test:
      bundle_endpoint_url: https://b.example/
      bundle_endpoint_profile: https_spiffe
      endpoint_spiffe_id: spiffe://b.test/spindle/server
      trust_domain_bundle_path: b.pem
`;
  assert.match(problems(base).join("\n"), /federation\.federates_with\.b\.test\.trust_domain_bundle_path: .*not a SPIFFE bundle \(format spiffe\)/);
  const c = load(`${base}      trust_domain_bundle_format: pem\n`);
  assert.equal(decodeSpiffeBundle(parseTrustDomain("b.test"), c.federatesWith![0]!.bootstrapBundle!).x509Authorities.length, 1);
});

test("federates_with: every problem is listed with its path", () => {
  const p = problems(`federation:
  federates_with:
    B.test:
      bundle_endpoint_url: https://b.example/
      bundle_endpoint_profile: https_web
    c.test:
      bundle_endpoint_url: http://c.example/
      bundle_endpoint_profile: https_web
      endpoint_spiffe_id: spiffe://c.test/server
    d.test:
      bundle_endpoint_url: https://d.example/
      bundle_endpoint_profile: https_spiffe
    e.test:
      bundle_endpoint_url: not a url
      bundle_endpoint_profile: https_spiffe
      endpoint_spiffe_id: spiffe://e.test/x
      ca_file: /nope.pem
    f.test:
      bundle_endpoint_url: https://user:pw@f.example/
      bundle_endpoint_profile: https_tls
    a.test:
      bundle_endpoint_url: https://a.example/
      bundle_endpoint_profile: https_web
`);
  const all = p.join("\n");
  assert.match(all, /federates_with\.B\.test \(trust domain name\): /);
  assert.match(all, /federates_with\.c\.test\.bundle_endpoint_url: .*must use https/);
  assert.match(all, /federates_with\.c\.test\.endpoint_spiffe_id: applies to the https_spiffe profile only/);
  assert.match(all, /federates_with\.d\.test\.endpoint_spiffe_id: is required for the https_spiffe profile/);
  assert.match(all, /federates_with\.e\.test\.bundle_endpoint_url: "not a url" is not a URL/);
  assert.match(all, /federates_with\.e\.test\.ca_file: applies to the https_web profile only/);
  assert.match(all, /federates_with\.f\.test\.bundle_endpoint_profile: must be "https_web" or "https_spiffe"/);
  assert.match(all, /federates_with\.a\.test \(trust domain name\): "a\.test" is the server's own trust domain/);
});

test("federation.refresh_floor: unset keeps the refresher's default floor; set, it lowers it with a warning; zero is refused", () => {
  assert.equal(load("").federationTiming, undefined);
  const c = load("federation:\n  refresh_floor: 2s\n");
  assert.deepEqual(c.federationTiming, { minIntervalMs: 2000 });
  assert.match((c.configWarnings ?? []).join("\n"), /federation\.refresh_floor: 2s is below the default 30s/);
  assert.deepEqual(load("federation:\n  refresh_floor: 1m\n").configWarnings, undefined);
  assert.match(problems("federation:\n  refresh_floor: 0s\n").join("\n"), /federation\.refresh_floor: .*not a positive duration/);
});
