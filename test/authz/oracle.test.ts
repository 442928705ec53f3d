// Oracle test (docs/authz.md, "Testing a policy"): for a generated matrix of requests, the compiled
// RBAC filters (DENY then ALLOW) run by @grpc/grpc-js-xds's engine must decide exactly as our own
// evaluator, the one behind `spindle authz check`, on every request; for HTTP and network filters,
// enforced and shadow rules.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compileService, evaluate, loadPolicy, ruleDifferences, type FilterKind, type Peer } from "../../src/authz/index.js";
import { grpcChain, type GrpcRequest } from "./grpc-oracle.js";

const FLEET = Array.from({ length: 30 }, (_, i) => `spiffe://example.org/ns/fleet/sa/client-${String(i).padStart(2, "0")}`);

const POLICY = `
version: 1
services:
  spiffe://example.org/ns/payments/sa/api:
    deny:
      - from: [spiffe://example.org/ns/batch/sa/legacy-export]
      - from: [spiffe://example.org/ns/web/sa/admin]
        methods: [DELETE]
    allow:
      - from: [spiffe://example.org/ns/web/sa/frontend, spiffe://example.org/ns/web/sa/checkout]
        methods: [GET, POST]
        paths: [/v1/charges, /v1/charges/*]
        ports: [8443]
      - from: [spiffe://example.org/ns/batch/*]
        methods: [GET]
        paths: [/v1/reports/*]
      - from: [spiffe://partner.org/*]
        methods: [POST]
        paths: [/v1/charges]
        headers: {x-tenant: partner}
      - from: [${FLEET.join(", ")}]
      - from: [spiffe://example.org/ns/web/sa/admin]
        headers: {x-debug: "*", x-tenant: "part*"}
  ledger-db:
    deny:
      - from: [spiffe://partner.org/*]
        paths: [/v1/charges/*]
      - from: [spiffe://example.org/ns/web/sa/admin]
        methods: [POST]
        ports: [5432]
    allow:
      - from: [spiffe://example.org/ns/web/sa/admin, spiffe://example.org/ns/webhooks/sa/relay, spiffe://example.org/ns/web/*]
      - from: [spiffe://example.org/ns/payments/*, spiffe://example.org/ns/batch/sa/report]
        ports: [5432]
      - from: [spiffe://example.org/ns/web/*]
        methods: [GET]
  spiffe://example.org/ns/empty/sa/svc:
    allow: []
    deny:
      - from: [spiffe://example.org/*]
  spiffe://example.org/ns/shadow/sa/svc:
    mode: shadow
    deny:
      - from: [spiffe://example.org/ns/web/sa/admin]
    allow:
      - from: [spiffe://example.org/ns/web/*, spiffe://partner.org/gw]
        methods: [GET]
`;

const IDS = [
  "spiffe://example.org/ns/web/sa/frontend",
  "spiffe://example.org/ns/web/sa/checkout",
  "spiffe://example.org/ns/web/sa/frontend2",
  "spiffe://example.org/ns/web/sa/admin",
  "spiffe://example.org/ns/batch/sa/report",
  "spiffe://example.org/ns/batch/sa/legacy-export",
  "spiffe://example.org/ns/batch",
  "spiffe://example.org/ns/batchx/sa/job",
  "spiffe://example.org/ns/webhooks/sa/relay",
  "spiffe://example.org/ns/payments/sa/worker",
  "spiffe://example.org.evil/ns/web/sa/frontend",
  "spiffe://example-org/ns/web/sa/frontend",
  "spiffe://partner.org/gw",
  "spiffe://partner.org.attacker/gw",
  FLEET[0]!,
  FLEET[17]!,
  FLEET[29]!,
  "spiffe://example.org/ns/fleet/sa/client-30",
];

/** Certificates mixing URI, DNS and CN values; only URI SANs carry SPIFFE IDs. */
function peers(): (Peer | null)[] {
  const out: (Peer | null)[] = [null, { uris: [], dnsNames: ["frontend.web.svc"], commonName: "frontend" }, { uris: [], commonName: "spiffe-frontend" }];
  for (const id of IDS) {
    out.push({ uris: [id] });
    out.push({ uris: [id], dnsNames: ["api.example.org", "localhost"], commonName: "workload" });
    out.push({ uris: ["https://example.org/not-spiffe", id], commonName: "example.org" });
  }
  return out;
}

const METHODS = ["GET", "POST", "DELETE"];
const PATHS = ["/v1/charges", "/v1/charges/ch_1?expand=customer", "/v1/chargesX", "/v1/reports/daily", "/"];
const PORTS = [8443, 5432];
const HEADERS: Record<string, string>[] = [{}, { "x-tenant": "partner" }, { "x-tenant": "partner-2", "x-debug": "1" }];

for (const filter of ["http", "network"] as FilterKind[]) {
  test(`oracle: compiled ${filter} RBAC run by grpc-js-xds agrees with spindle's evaluator on every request`, () => {
    const { policy, problems } = loadPolicy(POLICY, "oracle.yaml");
    assert.ok(policy, JSON.stringify(problems));
    let total = 0;
    const tally = { allowed: 0, denied: 0, shadowDenied: 0 };
    for (const service of policy.services) {
      const chain = grpcChain(compileService(service, { filter }).filters, filter);
      for (const peer of peers()) {
        for (const method of METHODS) {
          for (const path of PATHS) {
            for (const port of PORTS) {
              for (const headers of HEADERS) {
                const req: GrpcRequest = { peer, method, path, port, headers };
                const mine = evaluate(service, { from: peer ?? { uris: [] }, method, path, port, headers }, filter);
                const label = `${filter} ${service.key} ${JSON.stringify(req)}`;
                assert.equal(chain.enforced(req), mine.allowed, `enforced: ${label}`);
                const shadow = mine.shadow ?? mine;
                assert.equal(chain.shadow(req), shadow.allowed, `shadow: ${label}`);
                // The deciding rule must itself be a full match, as check reports it.
                if (shadow.rule) assert.deepEqual(ruleDifferences(shadow.rule, { from: peer ?? { uris: [] }, method, path, port, headers }, filter), [], label);
                total++;
                if (mine.allowed) tally.allowed++;
                else tally.denied++;
                if (!shadow.allowed && mine.shadow) tally.shadowDenied++;
              }
            }
          }
        }
      }
    }
    assert.ok(total >= 2000, `matrix has ${total} requests`);
    // A matrix where one answer dominates would prove little.
    assert.ok(tally.allowed > total / 10 && tally.denied > total / 10, JSON.stringify({ total, ...tally }));
    assert.ok(tally.shadowDenied > 0, "shadow rules were exercised");
  });
}
