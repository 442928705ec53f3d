// The independent evaluator for the oracle test: @grpc/grpc-js-xds's RBAC engine
// (build/src/rbac.js). Our compiled JSON is first decoded with the generated Envoy types as an
// ECDS TypedExtensionConfig (strict: unknown fields and unresolved @types fail, as in Envoy), then turned into the object shape grpc-js-xds gets from
// @grpc/proto-loader (`keepCase`, `enums: String`, `defaults`, `oneofs`: snake_case field names
// plus one discriminator per oneof naming the set field). camelCase keys would be silently
// dropped by that engine, which is why the conversion is driven by the descriptors.
import { createRequire } from "node:module";
import type { DescField, DescMessage, Message } from "@bufbuild/protobuf";
import { Metadata } from "@grpc/grpc-js";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { envoyRegistry } from "../../src/envoy/schema.js";
import { RBACSchema as HttpRbacSchema } from "../../src/gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js";
import { RBACSchema as NetworkRbacSchema } from "../../src/gen/envoy/extensions/filters/network/rbac/v3/rbac_pb.js";
import { toTypedExtensionConfig, type CompiledFilter, type FilterKind, type Peer } from "../../src/authz/index.js";

const require = createRequire(import.meta.url);
const rbac = require("@grpc/grpc-js-xds/build/src/rbac.js") as {
  parseConfig(rules: unknown): { apply(info: unknown): boolean };
};

export interface GrpcRequest {
  peer: Peer | null;
  method: string;
  path: string;
  port: number;
  headers: Record<string, string>;
}

export interface GrpcChain {
  /** Enforced decision: every filter's `rules` must accept (filters are ANDed in order). */
  enforced(req: GrpcRequest): boolean;
  /** The decision of the filters' `shadow_rules` (or of `rules` when there are none). */
  shadow(req: GrpcRequest): boolean;
}

export function grpcChain(filters: readonly CompiledFilter[], kind: FilterKind = "http"): GrpcChain {
  const schema = kind === "http" ? HttpRbacSchema : NetworkRbacSchema;
  const registry = envoyRegistry();
  const decoded = filters.map((f) => {
    const any = toTypedExtensionConfig(f, registry).typedConfig;
    const msg = any ? anyUnpack(any, registry) : undefined;
    if (!msg || msg.$typeName !== schema.typeName) throw new Error(`${f.name}: typed_config is not a ${schema.typeName}`);
    return toProtoLoaderShape(schema, msg);
  });
  const enforced = decoded.map((d) => rbac.parseConfig(d["rules"]));
  const shadow = decoded.map((d) => rbac.parseConfig(d["shadow_rules"] ?? d["rules"]));
  return {
    enforced: (req) => enforced.every((e) => e.apply(info(req))),
    shadow: (req) => shadow.every((e) => e.apply(info(req))),
  };
}

/** The `info` object grpc-js-xds's RBAC filter builds for a call (see its rbac-filter.js). */
function info(req: GrpcRequest): unknown {
  const headers = new Metadata();
  for (const [k, v] of Object.entries(req.headers)) headers.set(k, v);
  headers.set(":method", req.method);
  headers.set(":path", req.path);
  const q = req.path.indexOf("?");
  let peerCertificate = null;
  if (req.peer) {
    const sans = [...req.peer.uris.map((u) => `URI:${u}`), ...(req.peer.dnsNames ?? []).map((d) => `DNS:${d}`)];
    peerCertificate = { subject: req.peer.commonName === undefined ? {} : { CN: req.peer.commonName }, subjectaltname: sans.join(", ") };
  }
  return {
    destinationIp: "10.0.0.2",
    destinationPort: req.port,
    sourceIp: "10.0.0.1",
    headers,
    tls: req.peer !== null,
    peerCertificate,
    urlPath: q === -1 ? req.path : req.path.slice(0, q),
  };
}

type Plain = Record<string, unknown>;

/** Converts a protobuf-es message into @grpc/proto-loader's `oneofs: true, defaults: true` shape. */
export function toProtoLoaderShape(desc: DescMessage, msg: Message): Plain {
  const m = msg as unknown as Record<string, unknown>;
  const out: Plain = {};
  for (const member of desc.members) {
    if (member.kind === "oneof") {
      const v = m[member.localName] as { case?: string; value?: unknown };
      const field = member.fields.find((f) => f.localName === v.case);
      if (!field) continue;
      out[member.name] = field.name;
      out[field.name] = value(field, v.value);
    } else out[member.name] = value(member, m[member.localName]);
  }
  return out;
}

function value(field: DescField, v: unknown): unknown {
  switch (field.fieldKind) {
    case "scalar":
      return typeof v === "bigint" ? v.toString() : v;
    case "enum":
      return field.enum.values.find((e) => e.number === v)?.name ?? v;
    case "message":
      if (v === undefined) return null;
      if (field.message.typeName.startsWith("google.protobuf.") && field.message.typeName.endsWith("Value")) return { value: v };
      return toProtoLoaderShape(field.message, v as Message);
    case "list":
      return (v as unknown[]).map((item) => (field.listKind === "message" ? toProtoLoaderShape(field.message, item as Message) : item));
    case "map": {
      const out: Plain = {};
      for (const [k, item] of Object.entries(v as Plain)) out[k] = field.mapKind === "message" ? toProtoLoaderShape(field.message, item as Message) : item;
      return out;
    }
  }
}
