// Inputs of the bootstrap generator, validated once at the boundary (every problem listed, each
// named by its `spindle envoy bootstrap` flag), then frozen.
import { isIP } from "node:net";
import { SpindleError } from "../../common/errors.js";
import { parseSpiffeId, requireWorkloadId } from "../../spiffe/index.js";
import { DEFAULT_AGENT_SOCKET } from "./constants.js";

export type BootstrapRole = "sidecar" | "gateway";
export type AuthzMode = "none" | "ecds";

/** Unvalidated input, as the CLI collects it. Omitted values take the documented defaults. */
export interface BootstrapInput {
  role?: string;
  spiffeId?: string;
  listen?: string;
  app?: string;
  outboundListen?: string;
  upstream?: string;
  peerIds?: readonly string[];
  upstreamIds?: readonly string[];
  validationContext?: string;
  socketPath?: string;
  admin?: string;
  nodeId?: string;
  cluster?: string;
  authz?: string;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
  /** True for an IP literal (STATIC cluster); false for a DNS name (STRICT_DNS cluster). */
  readonly isIp: boolean;
}

export interface BootstrapOptions {
  readonly role: BootstrapRole;
  /** Name of the certificate secret: the workload's SPIFFE ID, or `default` (first SVID). */
  readonly certificateName: string;
  /** Name of the validation-context secret: ROOTCA, ALL, or spiffe://<trust-domain>. */
  readonly validationContextName: string;
  readonly listen: HostPort;
  /** sidecar only: the local application behind the inbound listener. */
  readonly app: HostPort;
  /** sidecar only: plain local listener for the application's outgoing calls. */
  readonly outboundListen: HostPort;
  /** The mTLS upstream (gateway: required; sidecar: optional, no outbound side without it). */
  readonly upstream?: HostPort;
  /** SPIFFE IDs accepted from callers on the inbound mTLS listener (sidecar). */
  readonly peerIds: readonly string[];
  /** SPIFFE IDs the upstream must present. */
  readonly upstreamIds: readonly string[];
  readonly socketPath: string;
  readonly admin: HostPort;
  readonly nodeId: string;
  readonly cluster: string;
  readonly authz: AuthzMode;
}

const FLAG: Record<keyof BootstrapInput, string> = {
  role: "--role", spiffeId: "--spiffe-id", listen: "--listen", app: "--app", outboundListen: "--outbound-listen",
  upstream: "--upstream", peerIds: "--peer-id", upstreamIds: "--upstream-id", validationContext: "--validation-context",
  socketPath: "--socket-path", admin: "--admin", nodeId: "--node-id", cluster: "--cluster", authz: "--authz",
};

/** Validates `input`; throws ERR_CONFIG_INVALID listing every bad flag. */
export function parseBootstrapOptions(input: BootstrapInput): BootstrapOptions {
  const problems: string[] = [];
  const bad = (key: keyof BootstrapInput, why: string) => problems.push(`${FLAG[key]}: ${why}`);
  const role = oneOf(input.role ?? "", ["sidecar", "gateway"] as const, () =>
    bad("role", input.role === undefined ? "is required (sidecar or gateway)" : `must be sidecar or gateway, got ${JSON.stringify(input.role)}`));
  const authz = oneOf(input.authz ?? "none", ["none", "ecds"] as const, () => bad("authz", `must be none or ecds, got ${JSON.stringify(input.authz)}`));
  const workloadId = (key: keyof BootstrapInput, id: string): string => {
    try {
      return requireWorkloadId(id).toString();
    } catch (err) {
      bad(key, err instanceof Error ? err.message : String(err));
      return id;
    }
  };
  const certificateName = input.spiffeId === undefined ? "default" : workloadId("spiffeId", input.spiffeId);
  const peerIds = (input.peerIds ?? []).map((id) => workloadId("peerIds", id));
  const upstreamIds = input.upstreamIds?.length ? input.upstreamIds.map((id) => workloadId("upstreamIds", id)) : peerIds;
  const address = (key: keyof BootstrapInput, value: string | undefined, fallback: string) => hostPort(value ?? fallback, (why) => bad(key, why));
  const bindAddress = (key: keyof BootstrapInput, value: string | undefined, fallback: string) => bindable(address(key, value, fallback), (why) => bad(key, why));
  const listen = bindAddress("listen", input.listen, "0.0.0.0:8443");
  const app = address("app", input.app, "127.0.0.1:8080");
  const outboundListen = bindAddress("outboundListen", input.outboundListen, "127.0.0.1:9000");
  const admin = bindAddress("admin", input.admin, "127.0.0.1:9901");
  const upstream = input.upstream === undefined ? undefined : address("upstream", input.upstream, "");
  const socketPath = input.socketPath ?? DEFAULT_AGENT_SOCKET;
  if (!socketPath.startsWith("/")) bad("socketPath", `must be an absolute path, got ${JSON.stringify(socketPath)}`);

  if (role === "gateway" && upstream === undefined) bad("upstream", "is required with --role gateway (the mTLS service behind the gateway)");
  if (upstream !== undefined && upstreamIds.length === 0) {
    bad("peerIds", "give the SPIFFE ID(s) the upstream must present (--peer-id or --upstream-id); without one any workload of the bundle would be trusted");
  }
  if (role === "sidecar" && peerIds.length === 0 && authz === "none") {
    bad("peerIds", "give the SPIFFE ID(s) allowed to call this sidecar, or use --authz ecds to authorize callers with RBAC");
  }
  if (role === "gateway" && authz === "ecds") bad("authz", "ecds needs an mTLS inbound listener; only --role sidecar has one");
  if (role === "gateway" && input.app !== undefined) bad("app", "only applies to --role sidecar");
  if (role === "gateway" && input.outboundListen !== undefined) bad("outboundListen", "only applies to --role sidecar");
  for (const key of ["nodeId", "cluster"] as const) {
    const v = input[key];
    if (v !== undefined && !/^[A-Za-z0-9._:/-]+$/.test(v)) bad(key, `must be non-empty and use only A-Z a-z 0-9 . _ : / -, got ${JSON.stringify(v)}`);
  }
  const validationContextName = validationContext(input, certificateName, [...peerIds, ...upstreamIds], (why) => bad("validationContext", why));

  if (problems.length > 0) {
    throw new SpindleError("ERR_CONFIG_INVALID", `invalid bootstrap options:\n  ${problems.join("\n  ")}`, { details: { problems } });
  }
  return Object.freeze({
    role: role!, certificateName, validationContextName, listen, app, outboundListen, upstream,
    peerIds: Object.freeze(peerIds), upstreamIds: Object.freeze(upstreamIds), socketPath, admin,
    nodeId: input.nodeId ?? `spindle-${role}`, cluster: input.cluster ?? `spindle-${role}`, authz: authz!,
  });
}

/**
 * ROOTCA trusts only the own trust domain. When a peer is in another trust domain than our own
 * ID, the SPIFFE validator needs that domain's bundle too: ALL (own + federated, section 6).
 * An explicit --validation-context always wins.
 */
function validationContext(input: BootstrapInput, certificateName: string, peers: readonly string[], bad: (why: string) => void): string {
  const explicit = input.validationContext;
  if (explicit !== undefined) {
    if (explicit === "ROOTCA" || explicit === "ALL") return explicit;
    try {
      const id = parseSpiffeId(explicit);
      if (id.isRoot) return explicit;
    } catch {
      // reported below
    }
    bad(`must be ROOTCA, ALL or spiffe://<trust-domain>, got ${JSON.stringify(explicit)}`);
    return explicit;
  }
  const domains = new Set(peers.map(domainOf));
  // With the `default` certificate our own trust domain is unknown here: only peers spanning
  // several domains prove federation.
  if (certificateName === "default") return domains.size > 1 ? "ALL" : "ROOTCA";
  domains.delete(domainOf(certificateName));
  return domains.size > 0 ? "ALL" : "ROOTCA";
}

function domainOf(id: string): string {
  return id.slice("spiffe://".length).split("/")[0] ?? "";
}

function oneOf<T extends string>(value: string, allowed: readonly T[], onBad: () => void): T | undefined {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  onBad();
  return undefined;
}

/**
 * Envoy binds listeners and the admin interface to IP literals only (`SocketAddress.address` of
 * a listener or of `Admin.address` is not resolved; a name fails with "malformed IP address").
 * `localhost` means the IPv4 loopback, 127.0.0.1; any other name is refused here rather than
 * written into a bootstrap Envoy would not start with (docs/commands/envoy.md).
 */
export function bindable(a: HostPort, bad: (why: string) => void): HostPort {
  if (a.isIp || a.host === "" || a.port === 0) return a;
  if (a.host.toLowerCase() === "localhost") return { host: "127.0.0.1", port: a.port, isIp: true };
  bad(`Envoy binds listeners and its admin interface to IP addresses only, got the name ${JSON.stringify(a.host)}; use an IP literal (0.0.0.0, 127.0.0.1, [::], [::1]) or localhost (127.0.0.1)`);
  return a;
}

/** Parses `host:port` or `[ipv6]:port`. */
export function hostPort(value: string, bad: (why: string) => void): HostPort {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  const host = m ? (m[1] ?? m[2] ?? "") : "";
  const isIp = isIP(host) !== 0;
  if (!m || port < 1 || port > 65535 || (m[1] !== undefined && isIP(host) !== 6) || (!isIp && !/^[A-Za-z0-9]([A-Za-z0-9-.]*[A-Za-z0-9])?$/.test(host))) {
    bad(`must be HOST:PORT (IPv4, [IPv6] or a DNS name, port 1-65535), got ${JSON.stringify(value)}`);
    return { host, port: Number.isFinite(port) ? port : 0, isIp };
  }
  return { host, port, isIp };
}
