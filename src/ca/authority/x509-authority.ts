// Creating X.509 CA authorities (self-signed, or intermediates under an upstream CA) and turning a
// journal record plus its key into a leaf minter.
import { randomBytes, type KeyObject } from "node:crypto";
import type { KeyManager, KeyType, X509AuthorityRecord } from "../contracts.js";
import { spindleError } from "../../common/index.js";
import { buildCaCertificate, createLeafMinter, encodeName, issuerFromCertificate, parseCertificateParts, type LeafMinter } from "../x509/index.js";
import type { UpstreamAuthority } from "./upstream.js";

/** CA certificates start this long before "now", like leaves, to absorb clock skew. */
const CA_BACKDATE_MS = 10_000;

export interface X509AuthorityContext {
  trustDomainId: string;
  serverId: string;
  keyManager: KeyManager;
  keyType: KeyType;
  caTtlMs: number;
  upstream: UpstreamAuthority | undefined;
}

export interface X509Signer {
  record: X509AuthorityRecord;
  minter: LeafMinter;
  /** The chain above the leaf that SVIDs carry: our CA if it is an intermediate, then upstream intermediates. */
  chainAboveLeaf: Buffer[];
}

const wholeSeconds = (ms: number) => Math.floor(ms / 1000) * 1000;

/** Generates a key and a CA certificate for it; the record starts in state "prepared". */
export async function createX509Authority(ctx: X509AuthorityContext, now: number): Promise<{ record: X509AuthorityRecord; privateKey: KeyObject }> {
  const keyId = `${ctx.serverId}.x509.${randomBytes(8).toString("hex")}`;
  const pair = await ctx.keyManager.generateKey(keyId, ctx.keyType);
  // Certificate times are whole seconds; keeping the record identical makes capping exact.
  const notBefore = wholeSeconds(now - CA_BACKDATE_MS);
  const wantedNotAfter = wholeSeconds(now + ctx.caTtlMs);
  const notAfter = ctx.upstream ? Math.min(wantedNotAfter, wholeSeconds(ctx.upstream.issuer.notAfter)) : wantedNotAfter;
  if (notAfter <= now) {
    await ctx.keyManager.deleteKey(keyId);
    throw spindleError("ERR_CONFIG_INVALID", `the upstream CA certificate expires at ${new Date(notAfter).toISOString()}; it cannot sign a new CA`);
  }
  // A distinct subject per authority (random serialNumber attribute) keeps chain building by name
  // unambiguous while several authorities of one trust domain are published at once.
  const subjectNameDer = encodeName([
    ["O", "Spindle"],
    ["CN", "Spindle CA"],
    ["serialNumber", randomBytes(8).toString("hex")],
  ]);
  const built = buildCaCertificate({
    publicKey: pair.publicKey,
    subjectNameDer,
    trustDomainId: ctx.trustDomainId,
    notBefore,
    notAfter,
    ...(ctx.upstream ? { issuer: ctx.upstream.issuer } : { privateKey: pair.privateKey }),
  });
  const record: X509AuthorityRecord = {
    id: built.ski.toString("hex"),
    state: "prepared",
    keyId,
    certDer: built.der.toString("base64"),
    upstreamChainDer: (ctx.upstream?.chain ?? []).map((c) => c.toString("base64")),
    notBefore,
    notAfter,
    tainted: false,
    serverId: ctx.serverId,
  };
  return { record, privateKey: pair.privateKey };
}

export function x509Signer(record: X509AuthorityRecord, privateKey: KeyObject): X509Signer {
  const certDer = Buffer.from(record.certDer, "base64");
  const issuer = issuerFromCertificate(certDer, privateKey, `X.509 authority ${record.id}`);
  issuer.notAfter = record.notAfter;
  const upstreamChain = record.upstreamChainDer.map((c) => Buffer.from(c, "base64"));
  // Self-signed: the CA certificate is a root and lives in the bundle, not in the chain.
  const chainAboveLeaf = upstreamChain.length > 0 || !isSelfIssued(certDer) ? [certDer, ...upstreamChain] : [];
  return { record, minter: createLeafMinter(issuer), chainAboveLeaf };
}

function isSelfIssued(certDer: Buffer): boolean {
  const parts = parseCertificateParts(certDer);
  return parts.subject.equals(parts.issuer);
}
