// Authentication of agent API callers after attestation: the TLS client certificate must be a
// valid X.509-SVID of OUR trust domain (never another's), name an agent, belong to an attested,
// unbanned agent and be its current (or just-renewed) SVID.
import type { TLSSocket, DetailedPeerCertificate } from "node:tls";
import { SpindleError, spindleError } from "../../common/errors.js";
import { validateX509Svid, type BundleSource } from "../../spiffe/index.js";
import { AGENT_PATH_PREFIX } from "../nodeattestors/plugin.js";
import type { AgentStore, AttestedAgent } from "./stores.js";

export interface AuthenticatedAgent {
  readonly agent: AttestedAgent;
  /** Hex serial of the presented SVID (lower case). */
  readonly serial: string;
  readonly notAfter: number;
}

/** The presented chain (leaf first, DER) from a TLS socket; empty when no certificate was sent. */
export function peerChain(socket: TLSSocket): Buffer[] {
  const out: Buffer[] = [];
  let cert = socket.getPeerCertificate(true) as DetailedPeerCertificate | undefined;
  const seen = new Set<string>();
  while (cert?.raw !== undefined && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    out.push(Buffer.from(cert.raw));
    cert = cert.issuerCertificate;
  }
  return out;
}

const bad = (why: string, cause?: unknown) => spindleError("ERR_AGENT_CLIENT_CERT_INVALID", `client certificate refused: ${why}`, cause === undefined ? {} : { cause });

export async function authenticateAgent(chain: readonly Uint8Array[], bundles: BundleSource, trustDomain: string, store: AgentStore, now: number): Promise<AuthenticatedAgent> {
  if (chain.length === 0) throw bad("this call requires the agent SVID as the TLS client certificate (attest first)");
  let info;
  try {
    info = validateX509Svid(chain, bundles, { now });
  } catch (err) {
    const e = SpindleError.from(err);
    const hint = e.code === "ERR_X509_SVID_EXPIRED" ? "; an expired agent must attest again" : "";
    throw bad(`${e.message}${hint}`, err);
  }
  const id = info.spiffeId;
  if (id.trustDomain.name !== trustDomain) throw bad(`${id} is not in trust domain "${trustDomain}"`);
  if (!id.path.startsWith(AGENT_PATH_PREFIX)) throw bad(`${id} is not an agent SPIFFE ID (${AGENT_PATH_PREFIX}...)`);
  const agent = await store.getAgent(id.toString());
  if (agent === undefined) throw spindleError("ERR_AGENT_NOT_ATTESTED", `agent ${id} is not attested (evicted?); attest again`);
  if (agent.banned) throw spindleError("ERR_AGENT_BANNED", `agent ${id} is banned`);
  const serial = info.leaf.serialNumber.toLowerCase();
  if (serial !== agent.serial.toLowerCase() && serial !== agent.previousSerial.toLowerCase()) {
    throw spindleError("ERR_AGENT_NOT_ATTESTED", `the SVID presented by ${id} was superseded by a newer attestation; attest again`);
  }
  return { agent, serial, notAfter: info.leaf.notAfter };
}
