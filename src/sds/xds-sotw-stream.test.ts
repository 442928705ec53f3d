// Table tests of the state-of-the-world stream state machine, driven as Envoy drives
// StreamSecrets (envoy.service.discovery.v3.DiscoveryRequest / DiscoveryResponse): version_info,
// nonce, ACK, NACK (error_detail), stale nonces, resubscription and pushes on change
// (docs/sds.md, "Stream behaviour"). Each step lists exactly what the stream must send and report.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { SpindleError } from "../common/errors.js";
import { createSilentLogger } from "../common/logger.js";
import { DiscoveryRequestSchema, DiscoveryResponseSchema } from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import { contentVersion, unavailable, type ResolvedResource } from "./xds-resource.js";
import type { XdsStreamMachine } from "./xds-stream-common.js";
import { createSotwStream } from "./xds-sotw-stream.js";
import type { DiscoveryRequest } from "../gen/envoy/service/discovery/v3/discovery_pb.js";

const TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/** `last` / `previous`: the nonce of the latest / the one-before-latest response; else literal. */
type NonceRef = "last" | "previous" | string;

interface Req {
  names: string[];
  nonce?: NonceRef;
  /** version_info the client reports; `last` = the latest response's. */
  version?: "last" | string;
  nack?: string;
  typeUrl?: string;
}

type Step =
  /** `sent`: the `name=content` resources of the one response expected, or null for none. */
  | { req: Req; sent: string[] | null; events?: string[]; deps?: string[] }
  /** Content changes (null = the name stops resolving), then the change notification. */
  | { change: Record<string, string | null>; sent: string[] | null; events?: string[]; deps?: string[] };

interface Case {
  name: string;
  /** Content of each name at the start; names absent here do not resolve. */
  content: Record<string, string>;
  steps: Step[];
}

function any(name: string, content: string) {
  return create(AnySchema, { typeUrl: TYPE, value: new TextEncoder().encode(`${name}=${content}`) });
}

function harness(initial: Record<string, string>) {
  const content = new Map(Object.entries(initial));
  const responses: { versionInfo: string; nonce: string; typeUrl: string; resources: string[] }[] = [];
  const events: string[] = [];
  const failures: SpindleError[] = [];
  let deps: string[] = [];
  const machine: XdsStreamMachine<DiscoveryRequest> = createSotwStream({
    typeUrl: TYPE,
    logger: createSilentLogger(),
    warnLimited: () => undefined,
    resolver: {
      async resolve(name): Promise<ResolvedResource> {
        if (name === "explodes") throw new Error("backend down");
        const c = content.get(name);
        if (c === undefined) throw unavailable("ERR_XDS_RESOURCE_NOT_FOUND", name, `no ${name}`, [`key:${name}`]);
        const resource = any(name, c);
        return { name, resource, encoded: toBinary(AnySchema, resource), version: contentVersion(resource), deps: [`key:${name}`] };
      },
    },
    observer: {
      pushed: (r) => events.push(`pushed ${r.map((x) => x.name).join(",")}`),
      acked: (r, v) => events.push(`acked ${v} ${r.map((x) => x.name).join(",")}`),
      nacked: (r, m) => events.push(`nacked ${m} ${r.map((x) => x.name).join(",")}`),
      unavailable: (u) => events.push(`unavailable ${u.name} ${u.error.code}`),
      closed: () => events.push("closed"),
    },
    send(bytes) {
      const r = fromBinary(DiscoveryResponseSchema, bytes);
      responses.push({ versionInfo: r.versionInfo, nonce: r.nonce, typeUrl: r.typeUrl, resources: r.resources.map((a) => new TextDecoder().decode(a.value)) });
    },
    fail: (err) => failures.push(err),
    setDependencies: (keys) => void (deps = [...keys].sort()),
  });
  const nonceOf = (ref: NonceRef | undefined): string => {
    if (ref === undefined) return "";
    if (ref === "last") return responses.at(-1)?.nonce ?? assert.fail("no response to take a nonce from");
    if (ref === "previous") return responses.at(-2)?.nonce ?? assert.fail("no earlier response");
    return ref;
  };
  return {
    machine,
    responses,
    events,
    failures,
    deps: () => deps,
    async request(req: Req) {
      machine.onRequest(
        create(DiscoveryRequestSchema, {
          typeUrl: req.typeUrl ?? TYPE,
          resourceNames: req.names,
          responseNonce: nonceOf(req.nonce),
          versionInfo: req.version === "last" ? (responses.at(-1)?.versionInfo ?? "") : (req.version ?? ""),
          errorDetail: req.nack === undefined ? undefined : create(StatusSchema, { code: 3, message: req.nack }),
        }),
      );
      await machine.idle();
    },
    async change(changes: Record<string, string | null>) {
      for (const [name, c] of Object.entries(changes)) {
        if (c === null) content.delete(name);
        else content.set(name, c);
      }
      machine.onChange();
      await machine.idle();
    },
  };
}

const cases: Case[] = [
  {
    name: "initial request: one response with version 1, a nonce and every requested name in order",
    content: { a: "1", b: "1" },
    steps: [{ req: { names: ["b", "a"] }, sent: ["b=1", "a=1"], events: ["pushed b,a"], deps: ["key:a", "key:b"] }],
  },
  {
    name: "ACK (the last nonce, no error_detail) is not answered and is reported with its version",
    content: { a: "1" },
    steps: [
      { req: { names: ["a"] }, sent: ["a=1"] },
      { req: { names: ["a"], nonce: "last", version: "last" }, sent: null, events: ["acked 1 a"] },
    ],
  },
  {
    name: "a change is pushed with the next version; no change, no push",
    content: { a: "1", b: "1" },
    steps: [
      { req: { names: ["a", "b"] }, sent: ["a=1", "b=1"] },
      { req: { names: ["a", "b"], nonce: "last", version: "last" }, sent: null },
      { change: {}, sent: null, events: [] },
      { change: { b: "2" }, sent: ["a=1", "b=2"], events: ["pushed a,b"] },
      { req: { names: ["a", "b"], nonce: "last", version: "last" }, sent: null, events: ["acked 2 a,b"] },
    ],
  },
  {
    name: "NACK (error_detail) is reported, not answered, and the rejected content is never sent again",
    content: { a: "1" },
    steps: [
      { req: { names: ["a"] }, sent: ["a=1"] },
      { req: { names: ["a"], nonce: "last", version: "last" }, sent: null },
      { change: { a: "2" }, sent: ["a=2"] },
      // Envoy NACKs with the last version it accepted.
      { req: { names: ["a"], nonce: "last", version: "1", nack: "bad certificate" }, sent: null, events: ["nacked bad certificate a"] },
      { change: {}, sent: null },
      { change: { a: "3" }, sent: ["a=3"] },
      { change: { a: "2" }, sent: null, events: [] },
      { change: { a: "4" }, sent: ["a=4"] },
    ],
  },
  {
    name: "a request whose nonce is not the last one sent on this stream is stale and ignored",
    content: { a: "1", b: "1" },
    steps: [
      { req: { names: ["a"] }, sent: ["a=1"] },
      { change: { a: "2" }, sent: ["a=2"] },
      // An ACK, a NACK and a name change, all answering the first response: none counts.
      { req: { names: ["a"], nonce: "previous", version: "1" }, sent: null, events: [] },
      { req: { names: ["a"], nonce: "previous", nack: "late" }, sent: null, events: [] },
      { req: { names: ["b"], nonce: "previous" }, sent: null, events: [], deps: ["key:a"] },
      { change: { a: "3" }, sent: ["a=3"], events: ["pushed a"] },
      { req: { names: ["a"], nonce: "last", version: "last" }, sent: null, events: ["acked 3 a"] },
    ],
  },
  {
    name: "the first request of a new stream may carry an old stream's nonce and is answered",
    content: { a: "1" },
    steps: [{ req: { names: ["a"], nonce: "nonce-of-a-previous-stream", version: "7" }, sent: ["a=1"], events: ["pushed a"] }],
  },
  {
    name: "resubscribe: a new set of names is answered at once; the same set in another order is an ACK",
    content: { a: "1", b: "1", c: "1" },
    steps: [
      { req: { names: ["a", "b"] }, sent: ["a=1", "b=1"] },
      { req: { names: ["b", "a"], nonce: "last", version: "last" }, sent: null, events: ["acked 1 a,b"] },
      { req: { names: ["b", "c"], nonce: "last", version: "last" }, sent: ["b=1", "c=1"], events: ["acked 1 a,b", "pushed b,c"], deps: ["key:b", "key:c"] },
      { change: { a: "2" }, sent: null },
      { change: { c: "2" }, sent: ["b=1", "c=2"] },
    ],
  },
  {
    name: "a NACK that also changes the names is answered with the new names",
    content: { a: "1", b: "1" },
    steps: [
      { req: { names: ["a"] }, sent: ["a=1"] },
      { req: { names: ["b"], nonce: "last", nack: "no thanks" }, sent: ["b=1"], events: ["nacked no thanks a", "pushed b"] },
    ],
  },
  {
    name: "no names (SDS has no wildcard): nothing is sent and nothing is watched",
    content: { a: "1" },
    steps: [
      { req: { names: [] }, sent: null, events: [], deps: [] },
      { req: { names: ["a"] }, sent: ["a=1"], deps: ["key:a"] },
      { req: { names: [], nonce: "last" }, sent: null, deps: [] },
      { change: { a: "2" }, sent: null },
    ],
  },
  {
    name: "duplicate names are answered once",
    content: { a: "1" },
    steps: [{ req: { names: ["a", "a"] }, sent: ["a=1"] }],
  },
  {
    name: "a name that does not resolve is left out, reported once, and pushed when it appears",
    content: { a: "1" },
    steps: [
      { req: { names: ["a", "later"] }, sent: ["a=1"], events: ["unavailable later ERR_XDS_RESOURCE_NOT_FOUND", "pushed a"], deps: ["key:a", "key:later"] },
      { change: { a: "2" }, sent: ["a=2"], events: ["pushed a"] },
      { change: { later: "1" }, sent: ["a=2", "later=1"] },
      { change: { later: null }, sent: ["a=2"], events: ["unavailable later ERR_XDS_RESOURCE_NOT_FOUND", "pushed a"] },
    ],
  },
  {
    name: "while none of the names resolves nothing is sent (an empty response would remove the secret)",
    content: {},
    steps: [
      { req: { names: ["later"] }, sent: null, events: ["unavailable later ERR_XDS_RESOURCE_NOT_FOUND"], deps: ["key:later"] },
      { req: { names: ["later"] }, sent: null, events: [] },
      { change: { later: "1" }, sent: ["later=1"] },
    ],
  },
];

for (const c of cases) {
  test(`sotw: ${c.name}`, async () => {
    const h = harness(c.content);
    for (const [i, step] of c.steps.entries()) {
      const at = `step ${i + 1}`;
      const before = h.responses.length;
      const eventsBefore = h.events.length;
      if ("req" in step) await h.request(step.req);
      else await h.change(step.change);
      const sent = h.responses.slice(before);
      if (step.sent === null) {
        assert.equal(sent.length, 0, `${at}: expected no response, got ${JSON.stringify(sent)}`);
      } else {
        assert.equal(sent.length, 1, `${at}: expected one response`);
        const r = sent[0]!;
        assert.deepEqual(r.resources, step.sent, `${at}: resources`);
        assert.equal(r.versionInfo, String(h.responses.length), `${at}: version_info counts the responses of this stream`);
        assert.equal(r.typeUrl, TYPE, `${at}: type_url`);
        assert.ok(r.nonce.length > 0, `${at}: a nonce`);
        assert.equal(h.responses.filter((x) => x.nonce === r.nonce).length, 1, `${at}: a fresh nonce`);
      }
      if (step.events !== undefined) assert.deepEqual(h.events.slice(eventsBefore), step.events, `${at}: observer events`);
      if (step.deps !== undefined) assert.deepEqual(h.deps(), step.deps, `${at}: dependencies`);
    }
    assert.deepEqual(h.failures, [], "the stream never failed");
    h.machine.close();
    assert.equal(h.events.at(-1), "closed");
  });
}

test("sotw: a request for another type URL ends the stream with ERR_XDS_TYPE_URL", async () => {
  const h = harness({ a: "1" });
  await h.request({ names: ["a"], typeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster" });
  assert.equal(h.responses.length, 0);
  assert.deepEqual(h.failures.map((f) => f.code), ["ERR_XDS_TYPE_URL"]);
  assert.match(h.failures[0]!.message, /envoy\.config\.cluster\.v3\.Cluster/);
});

test("sotw: a resolver failure other than 'not available' ends the stream and drops later steps", async () => {
  const h = harness({ a: "1" });
  await h.request({ names: ["a", "explodes"] });
  assert.equal(h.responses.length, 0);
  assert.equal(h.failures.length, 1);
  assert.match(h.failures[0]!.message, /backend down/);
  await h.request({ names: ["a"] });
  assert.equal(h.responses.length, 0, "a failed stream answers nothing more");
});

test("sotw: a request with an empty type URL is served (Envoy may omit it after the first)", async () => {
  const h = harness({ a: "1" });
  await h.request({ names: ["a"], typeUrl: "" });
  assert.deepEqual(h.responses.map((r) => r.resources), [["a=1"]]);
});
