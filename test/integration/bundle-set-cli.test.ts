// `spindle bundle set` with PEM and SPIFFE files and both forms of --id, run in-process against an
// in-process server: every bad input is one clear error and stores nothing.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../../src/cli/program.js";
import { pemToDers } from "../../src/common/pem.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

let srv: TestServer;
before(async () => {
  srv = await startTestServer();
});
after(async () => srv.close());

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runCli([...args, "--admin-socket", srv.options.adminSocket], { stdout: (s) => (out += s), stderr: (s) => (err += s), env: {} });
  return { code, out, err };
}
const stored = async () => {
  const r = await cli("bundle", "list", "--output", "json");
  assert.equal(r.code, 0, r.err);
  return (JSON.parse(r.out) as { bundles: { trustDomain: string; bundle: { keys: { use: string; x5c?: string[] }[] } }[] }).bundles;
};

function caPem(name: string, ca: boolean): string {
  const key = join(srv.dir, `${name}.key`);
  const crt = join(srv.dir, `${name}.crt`);
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt, "-days", "1", "-subj", `/CN=${name}`, "-addext", `basicConstraints=critical,CA:${ca ? "TRUE" : "FALSE"}`],
    { stdio: "ignore" },
  );
  return readFileSync(crt, "utf8");
}

test("bundle set --format pem stores the CA certificates as x509-svid keys; --id accepts spiffe://td", async () => {
  const one = caPem("pem-one", true);
  const two = caPem("pem-two", true);
  const file = join(srv.dir, "partner.pem");
  writeFileSync(file, one + two);
  const r = await cli("bundle", "set", "--id", "spiffe://pem.partner.org", "--format", "pem", "--path", file);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, "Bundle of pem.partner.org set\n");
  const b = (await stored()).find((x) => x.trustDomain === "pem.partner.org");
  assert.ok(b, "stored under the trust domain name");
  assert.deepEqual(
    b.bundle.keys.map((k) => [k.use, k.x5c]),
    [...pemToDers(one, "CERTIFICATE"), ...pemToDers(two, "CERTIFICATE")].map((d) => ["x509-svid", [d.toString("base64")]]),
  );
  // The SPIFFE form still works, with --id as a name or as spiffe://td.
  const json = join(srv.dir, "partner.json");
  writeFileSync(json, JSON.stringify({ keys: [], spiffe_sequence: 3 }));
  assert.equal((await cli("bundle", "set", "--id", "json.partner.org", "--path", json)).code, 0);
  assert.equal((await cli("bundle", "set", "--id", "spiffe://json2.partner.org", "--format", "spiffe", "--path", json)).code, 0);
  assert.deepEqual((await stored()).map((x) => x.trustDomain).sort(), ["json.partner.org", "json2.partner.org", "pem.partner.org"]);
});

test("bad bundle set input: one clear error each, nothing stored", async () => {
  const before = await stored();
  const pemFile = join(srv.dir, "good.pem");
  writeFileSync(pemFile, caPem("good", true));
  const jsonFile = join(srv.dir, "good.json");
  writeFileSync(jsonFile, JSON.stringify({ keys: [] }));
  const write = (name: string, text: string) => {
    const f = join(srv.dir, name);
    writeFileSync(f, text);
    return f;
  };
  const cases: [string, string[], RegExp][] = [
    ["id with a path", ["--id", "spiffe://bad.org/workload", "--format", "pem", "--path", pemFile], /^error \[ERR_TRUST_DOMAIN_INVALID\]: --id "spiffe:\/\/bad\.org\/workload": a trust domain's SPIFFE ID has no path \(spiffe:\/\/bad\.org\)\n$/],
    ["upper-case id", ["--id", "Bad.Org", "--path", jsonFile], /^error \[ERR_TRUST_DOMAIN_INVALID\]: --id "Bad\.Org": /],
    ["bad scheme", ["--id", "spiffe:/bad.org", "--path", jsonFile], /^error \[ERR_TRUST_DOMAIN_INVALID\]: --id "spiffe:\/bad\.org": /],
    ["PEM given as spiffe", ["--id", "bad.org", "--path", pemFile], /^error \[ERR_BUNDLE_INVALID\]: --path .*good\.pem: holds PEM, not a SPIFFE bundle \(JSON\); use --format pem\n$/],
    ["JSON given as pem", ["--id", "bad.org", "--format", "pem", "--path", jsonFile], /^error \[ERR_PEM_INVALID\]: --path .*good\.json: holds JSON, not PEM; use --format spiffe for a SPIFFE bundle\n$/],
    ["no PEM block", ["--id", "bad.org", "--format", "pem", "--path", write("empty.pem", "not a certificate\n")], /^error \[ERR_PEM_INVALID\]: --path .*empty\.pem: no PEM CERTIFICATE block found\n$/],
    ["a private key in the PEM", ["--id", "bad.org", "--format", "pem", "--path", write("key.pem", readFileSync(pemFile, "utf8") + readFileSync(join(srv.dir, "good.key"), "utf8"))], /^error \[ERR_PEM_INVALID\]: --path .*key\.pem: holds a "PRIVATE KEY" PEM block; a bundle holds only CERTIFICATE blocks\n$/],
    ["garbage DER", ["--id", "bad.org", "--format", "pem", "--path", write("junk.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")], /^error \[ERR_PEM_INVALID\]: --path .*junk\.pem: certificate #1 is not a DER X\.509 certificate\n$/],
    ["a leaf, not a CA", ["--id", "bad.org", "--format", "pem", "--path", write("leaf.pem", caPem("leaf", false))], /^error \[ERR_BUNDLE_INVALID\]: --path .*leaf\.pem: certificate #1 \(CN=leaf\) is not a CA certificate/],
    ["malformed JSON", ["--id", "bad.org", "--path", write("bad.json", "{ keys: ")], /^error \[ERR_BUNDLE_INVALID\]: invalid SPIFFE bundle for trust domain "bad\.org": \$: is not JSON\n$/],
    ["unknown format", ["--id", "bad.org", "--format", "der", "--path", pemFile], /^error \[ERR_INVALID_ARGUMENT\]: option '--format <format>' argument 'der' is invalid/],
    ["missing file", ["--id", "bad.org", "--path", join(srv.dir, "nope.json")], /^error \[ERR_INVALID_ARGUMENT\]: --path .*nope\.json: ENOENT/],
  ];
  for (const [what, args, expected] of cases) {
    const r = await cli("bundle", "set", ...args);
    assert.equal(r.code, 1, `${what}: exit code`);
    assert.match(r.err, expected, what);
    assert.equal(r.err.trim().split("\n").length, 1, `${what}: one line\n${r.err}`);
  }
  assert.deepEqual(await stored(), before, "nothing was stored");
});
