import { test } from "node:test";
import assert from "node:assert/strict";
import { parseSelector } from "./selector.js";
import { SELECTOR_TYPES, selectorKeys, selectorKind, selectorOf, selectorProblem, X509POP_SUBJECT_ATTRIBUTES, type SelectorType } from "./selector-schema.js";

const H64 = "a".repeat(64);
const UUID = "0f8b4c1e-2d3a-4b5c-9d6e-7f8091a2b3c4";

// [selector, expected problem kind or undefined when it is valid]
type Row = [string, "unknown-type" | "unknown-key" | "bad-value" | undefined];

const TABLE: Record<SelectorType, Row[]> = {
  unix: [
    ["unix:uid:0", undefined],
    ["unix:uid:1000", undefined],
    ["unix:uid:4294967295", undefined],
    ["unix:gid:0", undefined],
    ["unix:gid:65534", undefined],
    ["unix:user:alice", undefined],
    ["unix:user:www-data", undefined],
    ["unix:group:staff", undefined],
    ["unix:supplementary_gid:27", undefined],
    ["unix:supplementary_group:docker", undefined],
    ["unix:path:/usr/bin/curl", undefined],
    ["unix:path:/opt/app dir/bin", undefined],
    ["unix:sha256:" + H64, undefined],
    ["unix:user:svc.account_1", undefined],
    ["unix:uid:abc", "bad-value"],
    ["unix:uid:-1", "bad-value"],
    ["unix:uid:4294967296", "bad-value"],
    ["unix:uid:01000", "bad-value"],
    ["unix:uid:+5", "bad-value"],
    ["unix:uid:1.5", "bad-value"],
    ["unix:uid: 1000", "bad-value"],
    ["unix:gid:x", "bad-value"],
    ["unix:supplementary_gid:-3", "bad-value"],
    ["unix:user:al ice", "bad-value"],
    ["unix:user:a:b", "bad-value"],
    ["unix:group:", "bad-value"],
    ["unix:path:relative/bin", "bad-value"],
    ["unix:path:", "bad-value"],
    ["unix:sha256:" + "A".repeat(64), "bad-value"],
    ["unix:sha256:abc", "bad-value"],
    ["unix:sha256:" + "g".repeat(64), "bad-value"],
    ["unix:uuid:1000", "unknown-key"],
    ["unix:pid:42", "unknown-key"],
    ["unix:1000", "unknown-key"],
    ["unix:UID:1000", "unknown-key"],
  ],
  k8s: [
    ["k8s:ns:default", undefined],
    ["k8s:ns:kube-system", undefined],
    ["k8s:sa:frontend", undefined],
    ["k8s:sa:my.service-account", undefined],
    ["k8s:pod-name:web-5d9c7f6b8-x2x7q", undefined],
    ["k8s:pod-uid:" + UUID, undefined],
    ["k8s:pod-uid:" + "b".repeat(32), undefined],
    ["k8s:node-name:ip-10-0-0-1.ec2.internal", undefined],
    ["k8s:pod-label:app:web", undefined],
    ["k8s:pod-label:app.kubernetes.io/name:web", undefined],
    ["k8s:pod-label:tier:", undefined],
    ["k8s:pod-label:Version:v1.2_3", undefined],
    ["k8s:container-name:app", undefined],
    ["k8s:container-image:nginx:1.27", undefined],
    ["k8s:container-image:docker.io/library/nginx@sha256:" + H64, undefined],
    ["k8s:ns:Default", "bad-value"],
    ["k8s:ns:-bad", "bad-value"],
    ["k8s:ns:bad-", "bad-value"],
    ["k8s:ns:a.b", "bad-value"],
    ["k8s:ns:" + "a".repeat(64), "bad-value"],
    ["k8s:sa:Frontend", "bad-value"],
    ["k8s:sa:a..b", "bad-value"],
    ["k8s:pod-uid:not-a-uid", "bad-value"],
    ["k8s:pod-uid:" + UUID.toUpperCase(), "bad-value"],
    ["k8s:pod-label:noValueSeparator", "bad-value"],
    ["k8s:pod-label:-bad:v", "bad-value"],
    ["k8s:pod-label:app:has space", "bad-value"],
    ["k8s:pod-label:app:" + "v".repeat(64), "bad-value"],
    ["k8s:container-name:App", "bad-value"],
    ["k8s:container-image:has space", "bad-value"],
    ["k8s:node-name:UPPER", "bad-value"],
    ["k8s:namespace:default", "unknown-key"],
    ["k8s:pod_name:web", "unknown-key"],
    ["k8s:container_image:nginx", "unknown-key"],
    ["k8s:label:app:web", "unknown-key"],
  ],
  docker: [
    ["docker:label:com.example.team:payments", undefined],
    ["docker:label:env:", undefined],
    ["docker:label:com.docker.compose.service:web", undefined],
    ["docker:label:version:1.0:beta", undefined],
    ["docker:label:k:v with space", undefined],
    ["docker:image_id:sha256:" + H64, undefined],
    ["docker:env:APP_ENV:production", undefined],
    ["docker:env:EMPTY:", undefined],
    ["docker:env:URL:http://x:1/y", undefined],
    ["docker:env:lower_case:1", undefined],
    ["docker:label:a.b.c:d", undefined],
    ["docker:env:PATH:/usr/bin:/bin", undefined],
    ["docker:label:x-y_z:1", undefined],
    ["docker:env:A1:b", undefined],
    ["docker:label:nokeyvalue", "bad-value"],
    ["docker:label::value", "bad-value"],
    ["docker:label:has space:v", "bad-value"],
    ["docker:label:a=b:v", "bad-value"],
    ["docker:image_id:" + H64, "bad-value"],
    ["docker:image_id:sha256:abc", "bad-value"],
    ["docker:image_id:sha256:" + "A".repeat(64), "bad-value"],
    ["docker:image_id:nginx:latest", "bad-value"],
    ["docker:image_id:sha512:" + H64, "bad-value"],
    ["docker:env:NOVALUE", "bad-value"],
    ["docker:env::x", "bad-value"],
    ["docker:env:A=B:x", "bad-value"],
    ["docker:env:A B:x", "bad-value"],
    ["docker:image:nginx", "unknown-key"],
    ["docker:name:web", "unknown-key"],
    ["docker:image-id:sha256:" + H64, "unknown-key"],
    ["docker:labels:a:b", "unknown-key"],
    ["docker:container_id:abc", "unknown-key"],
    ["docker:Label:a:b", "unknown-key"],
  ],
  join_token: [
    ["join_token:spiffe_id:spiffe://example.org/node/web-1", undefined],
    ["join_token:spiffe_id:spiffe://example.org/a", undefined],
    ["join_token:spiffe_id:spiffe://example.org/nodes/eu/west/1", undefined],
    ["join_token:spiffe_id:spiffe://td.example/x.y-z_1", undefined],
    ["join_token:spiffe_id:spiffe://example.org", undefined],
    ["join_token:spiffe_id:spiffe://example.org/...", undefined],
    ["join_token:spiffe_id:spiffe://a-b.c_d/e", undefined],
    ["join_token:spiffe_id:spiffe://example.org/UPPER/path", undefined],
    ["join_token:spiffe_id:spiffe://example.org/.x", undefined],
    ["join_token:spiffe_id:spiffe://example.org/a/b/c/d/e/f", undefined],
    ["join_token:spiffe_id:spiffe://1.2.3.4/n", undefined],
    ["join_token:spiffe_id:spiffe://example.org/x..y", undefined],
    ["join_token:spiffe_id:spiffe://localhost/n", undefined],
    ["join_token:spiffe_id:spiffe://example.org/node-01", undefined],
    ["join_token:spiffe_id:spiffe://example.org/n_1.2", undefined],
    ["join_token:spiffe_id:example.org/web", "bad-value"],
    ["join_token:spiffe_id:Spiffe://example.org/web", "bad-value"],
    ["join_token:spiffe_id:spiffe:/example.org/web", "bad-value"],
    ["join_token:spiffe_id:spiffe://", "bad-value"],
    ["join_token:spiffe_id:spiffe:///web", "bad-value"],
    ["join_token:spiffe_id:spiffe://example.org/web/", "bad-value"],
    ["join_token:spiffe_id:spiffe://example.org//web", "bad-value"],
    ["join_token:spiffe_id:spiffe://example.org/./web", "bad-value"],
    ["join_token:spiffe_id:spiffe://example.org/../web", "bad-value"],
    ["join_token:spiffe_id:spiffe://Example.org/web", "bad-value"],
    ["join_token:spiffe_id:spiffe://example.org:443/web", "bad-value"],
    ["join_token:spiffe_id:spiffe://example.org/w%20b", "bad-value"],
    ["join_token:spiffe_id:spiffe://example.org/web?q=1", "bad-value"],
    ["join_token:spiffe_id:spiffe://example.org/web#f", "bad-value"],
    ["join_token:spiffe_id:https://example.org/web", "bad-value"],
    ["join_token:token:abc", "unknown-key"],
    ["join_token:id:0c4f", "unknown-key"],
    ["join_token:spiffeid:spiffe://example.org/a", "unknown-key"],
    ["join_token:alias:spiffe://example.org/a", "unknown-key"],
    ["join_token:spiffe://example.org/a", "unknown-key"],
  ],
  x509pop: [
    ["x509pop:subject:cn:node-1.example.org", undefined],
    ["x509pop:subject:o:Acme, Inc.", undefined],
    ["x509pop:subject:ou:Platform", undefined],
    ["x509pop:subject:c:DE", undefined],
    ["x509pop:subject:l:Berlin", undefined],
    ["x509pop:subject:st:Berlin", undefined],
    ["x509pop:subject:street:Main St 1", undefined],
    ["x509pop:subject:postalcode:10115", undefined],
    ["x509pop:subject:serialnumber:ABC-1", undefined],
    ["x509pop:subject:uid:u1", undefined],
    ["x509pop:subject:dc:example", undefined],
    ["x509pop:subject:emailaddress:ops@example.org", undefined],
    ["x509pop:ca:fingerprint:" + H64, undefined],
    ["x509pop:san:dns:node-1.example.org", undefined],
    ["x509pop:san:uri:spiffe://example.org/node", undefined],
    ["x509pop:serialnumber:0a1b2c", undefined],
    ["x509pop:subject:cn:", "bad-value"],
    ["x509pop:ca:fingerprint:abc", "bad-value"],
    ["x509pop:ca:fingerprint:" + "A".repeat(64), "bad-value"],
    ["x509pop:ca:fingerprint:" + "a".repeat(40), "bad-value"],
    ["x509pop:san:dns:", "bad-value"],
    ["x509pop:san:dns:has space", "bad-value"],
    ["x509pop:san:uri:", "bad-value"],
    ["x509pop:serialnumber:0A1B", "bad-value"],
    ["x509pop:serialnumber:xyz", "bad-value"],
    ["x509pop:serialnumber:", "bad-value"],
    ["x509pop:subject:title:CEO", "unknown-key"],
    ["x509pop:subject:CN:node", "unknown-key"],
    ["x509pop:subject:commonName:node", "unknown-key"],
    ["x509pop:ca:sha1:" + H64, "unknown-key"],
    ["x509pop:san:ip:10.0.0.1", "unknown-key"],
    ["x509pop:serial:0a", "unknown-key"],
    ["x509pop:cn:node", "unknown-key"],
    ["x509pop:fingerprint:" + H64, "unknown-key"],
  ],
  k8s_psat: [
    ["k8s_psat:cluster:prod", undefined],
    ["k8s_psat:cluster:Prod.EU-1_a", undefined],
    ["k8s_psat:agent_ns:spindle", undefined],
    ["k8s_psat:agent_sa:spindle-agent", undefined],
    ["k8s_psat:agent_sa:a.b", undefined],
    ["k8s_psat:agent_pod_name:spindle-agent-x7k2p", undefined],
    ["k8s_psat:agent_pod_uid:" + UUID, undefined],
    ["k8s_psat:agent_node_name:node-1", undefined],
    ["k8s_psat:agent_node_name:ip-10-0-0-1.ec2.internal", undefined],
    ["k8s_psat:agent_node_uid:" + UUID, undefined],
    ["k8s_psat:agent_pod_uid:" + "c".repeat(32), undefined],
    ["k8s_psat:cluster:a", undefined],
    ["k8s_psat:agent_ns:a1", undefined],
    ["k8s_psat:agent_node_uid:" + "d".repeat(32), undefined],
    ["k8s_psat:cluster:has space", "bad-value"],
    ["k8s_psat:cluster:a/b", "bad-value"],
    ["k8s_psat:cluster:" + "c".repeat(64), "bad-value"],
    ["k8s_psat:agent_ns:Spindle", "bad-value"],
    ["k8s_psat:agent_ns:a_b", "bad-value"],
    ["k8s_psat:agent_sa:-x", "bad-value"],
    ["k8s_psat:agent_pod_name:Pod", "bad-value"],
    ["k8s_psat:agent_pod_uid:123", "bad-value"],
    ["k8s_psat:agent_node_uid:" + UUID.toUpperCase(), "bad-value"],
    ["k8s_psat:agent_node_name:node_1", "bad-value"],
    ["k8s_psat:agent_node_name:", "bad-value"],
    ["k8s_psat:agent_pod_uid:", "bad-value"],
    ["k8s_psat:ns:spindle", "unknown-key"],
    ["k8s_psat:sa:spindle-agent", "unknown-key"],
    ["k8s_psat:agent-ns:spindle", "unknown-key"],
    ["k8s_psat:node_name:n1", "unknown-key"],
    ["k8s_psat:agent_node_label:a:b", "unknown-key"],
    ["k8s_psat:clusters:prod", "unknown-key"],
    ["k8s_psat:prod", "unknown-key"],
  ],
};

for (const type of SELECTOR_TYPES) {
  test(`${type} selectors: good ones pass, malformed values and unknown keys are named (table)`, () => {
    const rows = TABLE[type];
    assert.ok(rows.length >= 30, `${type}: at least 30 rows (${rows.length})`);
    assert.ok(rows.some(([, k]) => k === undefined) && rows.some(([, k]) => k === "bad-value") && rows.some(([, k]) => k === "unknown-key"));
    for (const [text, expected] of rows) {
      const s = parseSelector(text);
      assert.equal(s.type, type, `${text}: row is in the ${type} table`);
      const p = selectorProblem(s);
      assert.equal(p?.kind, expected, `${text}: ${p?.message ?? "no problem"}`);
      if (p !== undefined) assert.ok(p.message.startsWith(`selector ${JSON.stringify(text.length > 120 ? text.slice(0, 120) + "..." : text)}:`), p.message);
      if (p?.kind === "unknown-key") assert.ok(p.message.endsWith(`accepted keys: ${selectorKeys(type).join(", ")}`), p.message);
    }
  });
}

test("unknown selector types are refused, naming the known types by kind", () => {
  for (const text of ["foo:bar", "Unix:uid:1", "k8s-psat:cluster:a", "unix_:uid:1", "spiffe:x"]) {
    const p = selectorProblem(parseSelector(text));
    assert.equal(p?.kind, "unknown-type", text);
    assert.match(p!.message, /known types: unix, k8s, docker \(workload\), join_token, x509pop, k8s_psat \(node\)$/);
  }
});

test("the messages say what is expected", () => {
  assert.equal(
    selectorProblem(parseSelector("unix:uid:abc"))?.message,
    'selector "unix:uid:abc": the value of unix:uid must be a non-negative integer (0-4294967295) without sign or leading zeros, got "abc"',
  );
  assert.equal(
    selectorProblem(parseSelector("unix:uuid:1000"))?.message,
    'selector "unix:uuid:1000": unknown unix key "uuid"; accepted keys: uid, user, gid, group, supplementary_gid, supplementary_group, path, sha256',
  );
});

test("kinds: unix, k8s and docker are workload selectors; the node attestors' types are node selectors", () => {
  assert.deepEqual(
    SELECTOR_TYPES.map((t) => [t, selectorKind(t)]),
    [
      ["unix", "workload"],
      ["k8s", "workload"],
      ["docker", "workload"],
      ["join_token", "node"],
      ["x509pop", "node"],
      ["k8s_psat", "node"],
    ],
  );
});

test("x509pop subject keys come from the attribute table, one per attribute", () => {
  const subjectKeys = selectorKeys("x509pop").filter((k) => k.startsWith("subject:"));
  assert.deepEqual(subjectKeys, Object.values(X509POP_SUBJECT_ATTRIBUTES).map((n) => `subject:${n}`));
  // `subject:serialnumber` (the subject attribute) and `serialnumber` (the certificate's) differ.
  assert.equal(selectorProblem(selectorOf("x509pop", "subject:serialnumber", "X-1")), undefined);
  assert.equal(selectorProblem(selectorOf("x509pop", "serialnumber", "X-1"))?.kind, "bad-value");
});
