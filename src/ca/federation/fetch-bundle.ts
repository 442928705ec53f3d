// One HTTPS GET of a bundle endpoint (SPIFFE Federation sections 5.2.1.4 and 5.2.2.4), following
// redirects with the same checks (the target is never remembered), bounded in time and size.
// https_web: Node's TLS verification against the system roots or the relationship's CA file, with
// the RFC 6125 host name check of tls.checkServerIdentity. https_spiffe: the server certificate
// must be an X509-SVID valid against the endpoint trust domain's bundle whose SPIFFE ID is
// exactly the configured one; it is checked before the request is written.
import http, { type IncomingMessage } from "node:http";
import { isIP } from "node:net";
import tls, { type DetailedPeerCertificate, type TLSSocket } from "node:tls";
import { SpindleError } from "../../common/errors.js";
import { certsToPem } from "../../common/pem.js";
import { createBundleSet, validateX509Svid, type Bundle } from "../../spiffe/index.js";
import type { BundleEndpointProfile } from "../datastore/index.js";
import { bundleEndpointUrlProblem } from "./relationship.js";
import { refused } from "./refusal.js";

export interface FetchTarget {
  url: string;
  profile: BundleEndpointProfile;
  /** https_spiffe: the exact SPIFFE ID the server must present. */
  endpointSpiffeId?: string;
  /** https_spiffe: the latest bundle of the endpoint SPIFFE ID's trust domain. */
  endpointBundle?: Bundle;
  /** https_web: trusted roots (DER); undefined = the system roots. */
  caCertificates?: readonly Buffer[];
}

export interface FetchLimits {
  /** The whole fetch, redirects included. */
  timeoutMs: number;
  maxBodyBytes: number;
  maxRedirects: number;
  now: () => number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** The presented chain, leaf first, as DER (the issuer links Node built from what the peer sent). */
function presentedChain(socket: TLSSocket): Buffer[] {
  const out: Buffer[] = [];
  let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  while (cert !== undefined && cert.raw !== undefined && out.length < 16) {
    if (out.some((d) => d.equals(cert!.raw))) break;
    out.push(cert.raw);
    cert = cert.issuerCertificate;
  }
  return out;
}

function hostOf(u: URL): string {
  return u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
}

function tlsFailure(err: Error & { code?: string }, url: URL): SpindleError {
  const code = err.code ?? "";
  if (/CERT|ALTNAME|UNABLE_TO_(GET|VERIFY)|SELF_SIGNED|DEPTH_ZERO/.test(code)) {
    return refused("server_certificate", `${url.origin}: the server certificate was not accepted (${code}): ${err.message}`, err);
  }
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ECONNRESET|EAI_AGAIN|EPIPE/.test(code)) {
    return refused("connect", `${url.origin}: cannot connect (${code}): ${err.message}`, err);
  }
  return refused("tls", `${url.origin}: TLS failed${code ? ` (${code})` : ""}: ${err.message}`, err);
}

function connect(url: URL, t: FetchTarget, limits: FetchLimits, signal: AbortSignal): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const host = hostOf(url);
    const spiffe = t.profile === "https_spiffe";
    const socket = tls.connect({
      host,
      port: url.port === "" ? 443 : Number(url.port),
      ...(isIP(host) === 0 ? { servername: host } : {}),
      minVersion: "TLSv1.2",
      ALPNProtocols: ["http/1.1"],
      // https_spiffe: the chain is checked below with the SPIFFE rules, against the SPIFFE bundle.
      rejectUnauthorized: !spiffe,
      ...(!spiffe && t.caCertificates !== undefined ? { ca: certsToPem(t.caCertificates) } : {}),
    });
    const onAbort = () => socket.destroy(refused("timeout", `${url.origin}: no complete answer within ${limits.timeoutMs} ms`));
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("error", (err) => {
      signal.removeEventListener("abort", onAbort);
      reject(err instanceof SpindleError ? err : tlsFailure(err, url));
    });
    socket.once("secureConnect", () => {
      signal.removeEventListener("abort", onAbort);
      if (!spiffe) return resolve(socket);
      try {
        if (t.endpointBundle === undefined) throw refused("no_endpoint_bundle", "no bundle to authenticate the endpoint with");
        const svid = validateX509Svid(presentedChain(socket), createBundleSet([t.endpointBundle]), { now: limits.now() });
        if (svid.spiffeId.toString() !== t.endpointSpiffeId) {
          throw refused("endpoint_id_mismatch", `${url.origin}: the server presented ${svid.spiffeId.toString()}, not the configured endpoint SPIFFE ID ${t.endpointSpiffeId}`);
        }
        resolve(socket);
      } catch (err) {
        socket.destroy();
        reject(
          err instanceof SpindleError && err.details["reason"] !== undefined
            ? err
            : refused("server_certificate", `${url.origin}: the server certificate is not a valid X509-SVID of ${t.endpointBundle?.trustDomain.name ?? "?"}: ${(err as Error).message}`, err),
        );
      }
    });
  });
}

function get(url: URL, socket: TLSSocket, limits: FetchLimits, signal: AbortSignal): Promise<{ res: IncomingMessage; body?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      createConnection: () => socket,
      method: "GET",
      path: `${url.pathname}${url.search}`,
      headers: { host: url.host, accept: "application/json", connection: "close" },
    });
    const onAbort = () => req.destroy(refused("timeout", `${url.origin}: no complete answer within ${limits.timeoutMs} ms`));
    signal.addEventListener("abort", onAbort, { once: true });
    const done = () => signal.removeEventListener("abort", onAbort);
    req.once("error", (err) => {
      done();
      socket.destroy();
      reject(err instanceof SpindleError ? err : tlsFailure(err, url));
    });
    req.once("response", (res) => {
      if (res.statusCode !== 200) {
        done();
        res.resume();
        socket.destroy();
        return resolve({ res });
      }
      const declared = Number(res.headers["content-length"] ?? NaN);
      const tooLarge = () => refused("body_too_large", `${url.origin}: the answer is larger than ${limits.maxBodyBytes} bytes`);
      if (declared > limits.maxBodyBytes) return req.destroy(tooLarge());
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > limits.maxBodyBytes) req.destroy(tooLarge());
        else chunks.push(c);
      });
      res.once("end", () => {
        done();
        socket.destroy();
        resolve({ res, body: Buffer.concat(chunks).toString("utf8") });
      });
      res.once("error", (err) => req.destroy(err));
    });
    req.end();
  });
}

/** Fetches the bundle document; every failure is an ERR_FEDERATION_REFRESH_FAILED with a reason. */
export async function fetchBundleDocument(t: FetchTarget, limits: FetchLimits): Promise<{ body: string; url: string }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), limits.timeoutMs);
  timer.unref?.();
  try {
    let url = new URL(t.url);
    for (let hop = 0; ; hop++) {
      const socket = await connect(url, t, limits, controller.signal);
      const { res, body } = await get(url, socket, limits, controller.signal);
      if (body !== undefined) return { body, url: url.toString() };
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (!REDIRECTS.has(status) || location === undefined) {
        throw refused("http_status", `${url.toString()} answered HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ""}; only 200 carries a bundle`);
      }
      if (hop >= limits.maxRedirects) throw refused("redirect", `${t.url}: more than ${limits.maxRedirects} redirects`);
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw refused("redirect", `${url.toString()} redirected to ${JSON.stringify(location)}, which is not a URL`);
      }
      // Section 5.2.1.3 / 5.2.2.3: the target must itself be a valid bundle endpoint URL.
      const p = bundleEndpointUrlProblem(next.toString());
      if (p) throw refused("redirect", `${url.toString()} redirected to a URL that is not a bundle endpoint URL: ${p}`);
      url = next;
    }
  } finally {
    clearTimeout(timer);
  }
}
