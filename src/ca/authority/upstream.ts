// Upstream authority mode (docs/high-availability.md, "Authorities"): each of our CA keys gets an
// intermediate certificate signed by an existing CA, so SVIDs chain to that PKI and the bundle
// publishes its root(s) instead of our own CA certificates.
import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { pemToDers, spindleError } from "../../common/index.js";
import { issuerFromCertificate, type Issuer } from "../x509/index.js";

export interface UpstreamAuthority {
  /** The upstream CA certificate (DER) whose key signs our intermediates. */
  certificate: Buffer;
  privateKey: KeyObject;
  /**
   * What SVID chains carry above our intermediate: `certificate` (unless it is itself the root)
   * and any further intermediates, nearest first, root excluded.
   */
  chain: Buffer[];
  /** Trust anchors (self-signed roots, DER) published in the bundle. */
  roots: Buffer[];
  /** Precomputed signing identity of `certificate`. */
  issuer: Issuer;
}

export interface UpstreamInput {
  certificate: Buffer;
  privateKey: KeyObject;
  /** Any further certificates of the upstream PKI (intermediates and root), in any order. */
  bundle?: readonly Buffer[];
}

const isSelfSigned = (c: X509Certificate) => c.subject === c.issuer && c.verify(c.publicKey);

/** Validates the upstream material and finds its path to a root. Throws ERR_CONFIG_INVALID. */
export function createUpstreamAuthority(input: UpstreamInput): UpstreamAuthority {
  const issuer = issuerFromCertificate(input.certificate, input.privateKey, "upstream CA certificate");
  const parse = (der: Buffer, i: number) => {
    try {
      return new X509Certificate(der);
    } catch (err) {
      throw spindleError("ERR_CONFIG_INVALID", `upstream bundle: certificate #${i + 1} is not valid X.509`, { cause: err });
    }
  };
  const pool = (input.bundle ?? []).map((der, i) => ({ der, cert: parse(der, i) }));
  const chain: Buffer[] = [];
  let current = new X509Certificate(input.certificate);
  let currentDer = input.certificate;
  // Walk issuer links (name match + signature) until a self-signed root; bounded by the pool size.
  for (let depth = 0; !isSelfSigned(current); depth++) {
    chain.push(currentDer);
    const parent = pool.find((p) => p.cert.subject === current.issuer && current.verify(p.cert.publicKey));
    if (parent === undefined || depth > pool.length) {
      throw spindleError(
        "ERR_CONFIG_INVALID",
        `upstream bundle has no issuer for "${current.subject}" (issuer "${current.issuer}"): include every intermediate and the root`,
      );
    }
    current = parent.cert;
    currentDer = parent.der;
  }
  return { certificate: input.certificate, privateKey: input.privateKey, chain, roots: [currentDer], issuer };
}

export interface UpstreamFiles {
  /** PEM file with the upstream CA certificate (the first CERTIFICATE block). */
  certFile: string;
  /** PEM private key of that certificate (PKCS#8, SEC1 or PKCS#1). */
  keyFile: string;
  /** PEM file with the rest of the upstream chain up to and including its root. */
  bundleFile?: string;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw spindleError("ERR_CONFIG_READ", `cannot read upstream ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

export async function loadUpstreamAuthority(files: UpstreamFiles): Promise<UpstreamAuthority> {
  const certs = pemToDers(await readText(files.certFile, "certificate file"), "CERTIFICATE");
  const keyPem = await readText(files.keyFile, "key file");
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: keyPem, format: "pem" });
  } catch (err) {
    throw spindleError("ERR_KEY_FILE_INVALID", `upstream key file ${files.keyFile} is not a PEM private key`, { cause: err });
  }
  const bundle = files.bundleFile === undefined ? [] : pemToDers(await readText(files.bundleFile, "bundle file"), "CERTIFICATE");
  // Certificates after the first in the cert file are treated as part of the chain too.
  return createUpstreamAuthority({ certificate: certs[0]!, privateKey, bundle: [...certs.slice(1), ...bundle] });
}
