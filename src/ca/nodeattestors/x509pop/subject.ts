// The subject attributes x509pop turns into `x509pop:subject:<name>:<value>` selectors, read from
// the subject Name's DER (RFC 5280 4.1.2.4) so values arrive unescaped, exactly as issued.
// Node's X509Certificate.subject is RFC 2253-escaped text ("O=Acme\, Inc."), unfit for matching.
// DER walking is internal to src/spiffe (not on its index); reused here rather than duplicated.
import { children, content, decodeOid, expectTag, readTlv } from "../../../spiffe/der-reader.js";

/** Selector names by attribute OID (lower-cased short names of RFC 4519 / RFC 4524 / PKCS #9). */
export const SUBJECT_ATTRIBUTES: Readonly<Record<string, string>> = Object.freeze({
  "2.5.4.3": "cn",
  "2.5.4.5": "serialnumber",
  "2.5.4.6": "c",
  "2.5.4.7": "l",
  "2.5.4.8": "st",
  "2.5.4.9": "street",
  "2.5.4.10": "o",
  "2.5.4.11": "ou",
  "2.5.4.17": "postalcode",
  "0.9.2342.19200300.100.1.1": "uid",
  "0.9.2342.19200300.100.1.25": "dc",
  "1.2.840.113549.1.9.1": "emailaddress",
});

const SEQUENCE = 0x30;
const SET = 0x31;

/** DirectoryString and IA5String values; other string types are not decoded (undefined). */
function decodeString(tag: number, bytes: Buffer): string | undefined {
  switch (tag) {
    case 0x0c: // UTF8String
      return bytes.toString("utf8");
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x14: // TeletexString, read as Latin-1 as most implementations do
      return bytes.toString("latin1");
    case 0x1e: // BMPString: UTF-16BE
      return Buffer.from(bytes).swap16().toString("utf16le");
    default:
      return undefined;
  }
}

/**
 * Every known attribute of the Name, in certificate order; multi-valued RDNs yield one entry per
 * value. Unknown attribute types and undecodable values are skipped. Throws DerError on bad DER.
 */
export function subjectAttributes(nameDer: Uint8Array): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  const name = expectTag(readTlv(nameDer, 0), SEQUENCE, "subject Name");
  for (const rdn of children(nameDer, name)) {
    expectTag(rdn, SET, "RelativeDistinguishedName");
    for (const atv of children(nameDer, rdn)) {
      expectTag(atv, SEQUENCE, "AttributeTypeAndValue");
      const [type, value] = children(nameDer, atv);
      const attr = SUBJECT_ATTRIBUTES[decodeOid(content(nameDer, expectTag(type, 0x06, "attribute type")))];
      if (attr === undefined || value === undefined) continue;
      const text = decodeString(value.tag, content(nameDer, value));
      if (text !== undefined && text !== "") out.push({ name: attr, value: text });
    }
  }
  return out;
}
