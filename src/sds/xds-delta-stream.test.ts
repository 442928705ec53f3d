// Table tests of the incremental (Delta) stream state machine, driven as Envoy drives
// DeltaSecrets (envoy.service.discovery.v3.DeltaDiscoveryRequest / DeltaDiscoveryResponse):
// initial_resource_versions, subscribe and unsubscribe, per-resource versions, nonce, ACK, NACK
// (error_detail), stale nonces and removed_resources (docs/sds.md, "Stream behaviour"). Each step
// lists exactly what the stream must send and report.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { SpindleError } from "../common/errors.js";
import { createSilentLogger } from "../common/logger.js";
import { DeltaDiscoveryRequestSchema, type DeltaDiscoveryRequest } from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import { contentVersion, unavailable, type ResolvedResource } from "./xds-resource.js";
import type { XdsStreamMachine } from "./xds-stream-common.js";
import { createDeltaStream } from "./xds-delta-stream.js";

const TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

interface Req {
  sub?: string[];
  unsub?: string[];
  /** initial_resource_versions, as the content the client holds (turned into its version). */
  initial?: Record<string, string>;
  /** `last` / `previous`: the nonce of the latest / the one-before-latest response; else literal. */
  nonce?: string;
  nack?: string;
  typeUrl?: string;
}

interface Sent {
  /** `name=content`, in the order sent. */
  resources: string[];
  removed?: string[];
}

type Step =
  | { req: Req; sent: Sent | null; events?: string[]; deps?: string[] }
  /** Content changes (null = the name stops resolving), then the change notification. */
  | { change: Record<string, string | null>; sent: Sent | null; events?: string[]; deps?: string[] };

interface Case {
  name: string;
  content: Record<string, string>;
  steps: Step[];
}

const any = (name: string, content: string) => create(AnySchema, { typeUrl: TYPE, value: new TextEncoder().encode(`${name}=${content}`) });
const versionOf = (name: string, content: string) => contentVersion(any(name, content));

function harness(initial: Record<string, string>) {
  const content = new Map(Object.entries(initial));
  const responses: { systemVersionInfo: string; nonce: string; typeUrl: string; resources: { name: string; version: string; body: string }[]; removed: string[] }[] = [];
  const events: string[] = [];
  const failures: SpindleError[] = [];
  let deps: string[] = [];
  const machine: XdsStreamMachine<DeltaDiscoveryRequest> = createDeltaStream({
    typeUrl: TYPE,
    logger: createSilentLogger(),
    warnLimited: () => undefined,
    resolver: {
      async resolve(name): Promise<ResolvedResource> {
        const c = content.get(name);
        if (c === undefined) throw unavailable("ERR_XDS_RESOURCE_DENIED", name, `not ${name}`, [`key:${name}`]);
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
    send(r) {
      responses.push({
        systemVersionInfo: r.systemVersionInfo,
        nonce: r.nonce,
        typeUrl: r.typeUrl,
        resources: r.resources.map((x) => ({ name: x.name, version: x.version, body: new TextDecoder().decode(x.resource?.value) })),
        removed: [...r.removedResources],
      });
    },
    fail: (err) => failures.push(err),
    setDependencies: (keys) => void (deps = [...keys].sort()),
  });
  const nonceOf = (ref: string | undefined): string => {
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
        create(DeltaDiscoveryRequestSchema, {
          typeUrl: req.typeUrl ?? TYPE,
          resourceNamesSubscribe: req.sub ?? [],
          resourceNamesUnsubscribe: req.unsub ?? [],
          initialResourceVersions: Object.fromEntries(Object.entries(req.initial ?? {}).map(([n, c]) => [n, versionOf(n, c)])),
          responseNonce: nonceOf(req.nonce),
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
    name: "initial request: every subscribed name with its version, system_version_info 1, a nonce",
    content: { a: "1", b: "1" },
    steps: [{ req: { sub: ["a", "b"] }, sent: { resources: ["a=1", "b=1"] }, events: ["pushed a,b"], deps: ["key:a", "key:b"] }],
  },
  {
    name: "a first request with no names sends nothing",
    content: { a: "1" },
    steps: [
      { req: {}, sent: null, events: [] },
      { req: { sub: ["a"] }, sent: { resources: ["a=1"] } },
    ],
  },
  {
    name: "initial_resource_versions (a reconnect): only names whose version differs are sent",
    content: { a: "1", b: "2", c: "1" },
    steps: [
      // The client holds a at its current version and b at an old one; c is not subscribed.
      { req: { sub: ["a", "b"], initial: { a: "1", b: "1", c: "1" } }, sent: { resources: ["b=2"] }, events: ["pushed b"] },
      { change: { a: "2" }, sent: { resources: ["a=2"] } },
      // An initial version of a name not subscribed then is not remembered as held.
      { req: { sub: ["c"], nonce: "last" }, sent: { resources: ["c=1"] } },
    ],
  },
  {
    name: "initial_resource_versions that all match: nothing to send",
    content: { a: "1" },
    steps: [
      { req: { sub: ["a"], initial: { a: "1" } }, sent: null, events: [], deps: ["key:a"] },
      { change: { a: "2" }, sent: { resources: ["a=2"] } },
    ],
  },
  {
    name: "ACK (the last nonce) is not answered and is reported with the system version",
    content: { a: "1" },
    steps: [
      { req: { sub: ["a"] }, sent: { resources: ["a=1"] } },
      { req: { nonce: "last" }, sent: null, events: ["acked 1 a"] },
    ],
  },
  {
    name: "only resources whose version changed are pushed, each with its own version",
    content: { a: "1", b: "1" },
    steps: [
      { req: { sub: ["a", "b"] }, sent: { resources: ["a=1", "b=1"] } },
      { req: { nonce: "last" }, sent: null },
      { change: {}, sent: null, events: [] },
      { change: { b: "2" }, sent: { resources: ["b=2"] }, events: ["pushed b"] },
      { req: { nonce: "last" }, sent: null, events: ["acked 2 b"] },
    ],
  },
  {
    name: "NACK (error_detail) is reported, not answered, and the rejected version is never sent again",
    content: { a: "1" },
    steps: [
      { req: { sub: ["a"] }, sent: { resources: ["a=1"] } },
      { change: { a: "2" }, sent: { resources: ["a=2"] } },
      { req: { nonce: "last", nack: "bad key" }, sent: null, events: ["nacked bad key a"] },
      { change: { a: "3" }, sent: { resources: ["a=3"] } },
      { change: { a: "2" }, sent: null, events: [] },
      { change: { a: "4" }, sent: { resources: ["a=4"] } },
    ],
  },
  {
    name: "a stale nonce's ACK or NACK is ignored, but its subscription changes apply",
    content: { a: "1", b: "1" },
    steps: [
      { req: { sub: ["a"] }, sent: { resources: ["a=1"] } },
      { change: { a: "2" }, sent: { resources: ["a=2"] } },
      { req: { nonce: "previous", nack: "late" }, sent: null, events: [] },
      { req: { nonce: "previous", sub: ["b"] }, sent: { resources: ["b=1"] }, events: ["pushed b"], deps: ["key:a", "key:b"] },
      // The stale NACK did not mark a=2 as rejected: a change back to it is sent.
      { change: { a: "3" }, sent: { resources: ["a=3"] } },
      { change: { a: "2" }, sent: { resources: ["a=2"] } },
    ],
  },
  {
    name: "subscribing to a name already subscribed sends nothing",
    content: { a: "1" },
    steps: [
      { req: { sub: ["a"] }, sent: { resources: ["a=1"] } },
      { req: { sub: ["a"], nonce: "last" }, sent: null, events: ["acked 1 a"] },
    ],
  },
  {
    name: "unsubscribe: nothing is sent for the name afterwards; subscribing again sends it again",
    content: { a: "1", b: "1" },
    steps: [
      { req: { sub: ["a", "b"] }, sent: { resources: ["a=1", "b=1"] } },
      { req: { unsub: ["a"], nonce: "last" }, sent: null, deps: ["key:b"] },
      { change: { a: "2" }, sent: null },
      // The client dropped a when it unsubscribed, so the same version is sent again.
      { req: { sub: ["a"], nonce: "last" }, sent: { resources: ["a=2"] }, deps: ["key:a", "key:b"] },
    ],
  },
  {
    name: "unsubscribe clears a NACK: after subscribing again the once-rejected version is sent",
    content: { a: "1" },
    steps: [
      { req: { sub: ["a"] }, sent: { resources: ["a=1"] } },
      { req: { nonce: "last", nack: "no" }, sent: null },
      { req: { unsub: ["a"] }, sent: null },
      { req: { sub: ["a"] }, sent: { resources: ["a=1"] } },
    ],
  },
  {
    name: "a name that does not resolve is listed in removed_resources, reported once, and sent when it appears",
    content: { a: "1" },
    steps: [
      { req: { sub: ["a", "later"] }, sent: { resources: ["a=1"], removed: ["later"] }, events: ["unavailable later ERR_XDS_RESOURCE_DENIED", "pushed a"], deps: ["key:a", "key:later"] },
      { change: { a: "2" }, sent: { resources: ["a=2"] }, events: ["pushed a"] },
      { change: { later: "1" }, sent: { resources: ["later=1"] } },
      // Held and then lost: removed again, and reported again.
      { change: { later: null }, sent: { resources: [], removed: ["later"] }, events: ["unavailable later ERR_XDS_RESOURCE_DENIED", "pushed "] },
      { change: {}, sent: null },
    ],
  },
];

for (const c of cases) {
  test(`delta: ${c.name}`, async () => {
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
        assert.deepEqual(r.resources.map((x) => x.body), step.sent.resources, `${at}: resources`);
        for (const x of r.resources) {
          assert.equal(x.body.split("=")[0], x.name, `${at}: Resource.name`);
          assert.equal(x.version, versionOf(x.name, x.body.split("=")[1]!), `${at}: Resource.version is the content version`);
        }
        assert.deepEqual(r.removed, step.sent.removed ?? [], `${at}: removed_resources`);
        assert.equal(r.systemVersionInfo, String(h.responses.length), `${at}: system_version_info counts the responses`);
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

test("delta: a request for another type URL ends the stream with ERR_XDS_TYPE_URL", async () => {
  const h = harness({ a: "1" });
  await h.request({ sub: ["a"], typeUrl: "type.googleapis.com/envoy.config.listener.v3.Listener" });
  assert.equal(h.responses.length, 0);
  assert.deepEqual(h.failures.map((f) => f.code), ["ERR_XDS_TYPE_URL"]);
});
