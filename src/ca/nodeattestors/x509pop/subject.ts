// The subject attributes x509pop turns into `x509pop:subject:<name>:<value>` selectors, read from
// the subject Name's DER (RFC 5280 4.1.2.4) so values arrive unescaped, exactly as issued.
// Node's X509Certificate.subject is RFC 2253-escaped text ("O=Acme\, Inc."), unfit for matching.
// DER walking is internal to src/spiffe (not on its index); reused here rather than duplicated.
import { children, content, decodeOid, expectTag, readTlv } from "../../../spiffe/der-reader.js";
import { X509POP_SUBJECT_ATTRIBUTES, type X509PopSubjectAttribute } from "../../../spiffe/index.js";

/** Selector names by attribute OID; the table lives with the other selector keys. */
export const SUBJECT_ATTRIBUTES: Readonly<Record<string, X509PopSubjectAttribute | undefined>> = X509POP_SUBJECT_ATTRIBUTES;

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
export function subjectAttributes(nameDer: Uint8Array): { name: X509PopSubjectAttribute; value: string }[] {
  const out: { name: X509PopSubjectAttribute; value: string }[] = [];
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
