import { test } from "node:test";
import assert from "node:assert/strict";
import * as der from "./der.js";
import { childrenOf, readElement, contentOf } from "./der-reader.js";
import { SpindleError } from "../../common/index.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

test("lengths use the short form below 128 and the minimal long form above (X.690 8.1.3)", () => {
  assert.equal(hex(der.header(0x04, 0)), "0400");
  assert.equal(hex(der.header(0x04, 127)), "047f");
  assert.equal(hex(der.header(0x04, 128)), "048180");
  assert.equal(hex(der.header(0x04, 255)), "0481ff");
  assert.equal(hex(der.header(0x04, 256)), "04820100");
  assert.equal(hex(der.header(0x04, 70000)), "0483011170");
  const long = der.octetString(Buffer.alloc(300, 7));
  assert.equal(long.length, 304);
  assert.equal(readElement(long).end, 304);
});

test("INTEGER encodings are minimal and positive (X.690 8.3)", () => {
  assert.equal(hex(der.smallInteger(0)), "020100");
  assert.equal(hex(der.smallInteger(2)), "020102");
  assert.equal(hex(der.smallInteger(127)), "02017f");
  assert.equal(hex(der.smallInteger(128)), "02020080");
  assert.equal(hex(der.smallInteger(65537)), "0203010001");
  assert.equal(hex(der.unsignedInteger(Buffer.from("0000ff", "hex"))), "020200ff");
  assert.equal(hex(der.unsignedInteger(Buffer.from("00007f", "hex"))), "02017f");
  assert.equal(hex(der.unsignedInteger(Buffer.alloc(3))), "020100");
  assert.throws(() => der.smallInteger(-1), TypeError);
});

test("OIDs encode arcs base-128 with the first two combined (X.690 8.19)", () => {
  assert.equal(hex(der.oid("2.5.29.17")), "0603551d11");
  assert.equal(hex(der.oid("1.2.840.10045.4.3.2")), "06082a8648ce3d040302");
  assert.equal(hex(der.oid("1.3.6.1.5.5.7.3.1")), "06082b06010505070301");
  assert.equal(hex(der.oid("1.2.840.113549.1.1.11")), "06092a864886f70d01010b");
  assert.throws(() => der.oid("1"), TypeError);
  assert.throws(() => der.oid("1.40"), TypeError);
  assert.throws(() => der.oid("1.a.3"), TypeError);
});

test("named bit strings drop trailing zero bits (X.690 11.2.2): keyUsage values", () => {
  assert.equal(hex(der.namedBits([0])), "03020780", "digitalSignature");
  assert.equal(hex(der.namedBits([0, 2])), "030205a0", "digitalSignature + keyEncipherment");
  assert.equal(hex(der.namedBits([5, 6])), "03020106", "keyCertSign + cRLSign");
  assert.equal(hex(der.namedBits([0, 8])), "0303078080", "bit 8 spills into a second octet");
});

test("times: UTCTime through 2049, GeneralizedTime from 2050, whole seconds (RFC 5280 4.1.2.5)", () => {
  assert.equal(der.time(Date.UTC(2026, 0, 2, 3, 4, 5, 999)).toString("latin1").slice(2), "260102030405Z");
  assert.equal(der.time(Date.UTC(2049, 11, 31, 23, 59, 59)).subarray(0, 1)[0], der.Tag.UTC_TIME);
  const g = der.time(Date.UTC(2050, 0, 1));
  assert.equal(g[0], der.Tag.GENERALIZED_TIME);
  assert.equal(g.toString("latin1").slice(2), "20500101000000Z");
});

test("booleans, strings and context tags", () => {
  assert.equal(hex(der.booleanValue(true)), "0101ff");
  assert.equal(hex(der.booleanValue(false)), "010100");
  assert.equal(hex(der.printableString("US")), "13025553");
  assert.throws(() => der.printableString("a@b"), TypeError);
  assert.throws(() => der.ia5String("é"), TypeError);
  assert.equal(hex(der.utf8String("é")), "0c02c3a9");
  assert.equal(hex(der.explicit(0, der.smallInteger(2))), "a003020102");
  assert.equal(hex(der.implicitPrimitive(6, Buffer.from("a"))), "860161");
});

test("the reader walks what the encoder writes and refuses truncated input", () => {
  const seq = der.sequence(der.smallInteger(5), der.octetString(Buffer.from("hi")), der.nullValue());
  const kids = childrenOf(seq, readElement(seq));
  assert.deepEqual(kids.map((k) => k.tag), [0x02, 0x04, 0x05]);
  assert.equal(contentOf(seq, kids[1]!).toString(), "hi");
  assert.throws(() => readElement(seq.subarray(0, seq.length - 1)), (e: unknown) => SpindleError.is(e, "ERR_PEM_INVALID"));
  assert.throws(() => readElement(Buffer.from([0x30, 0x85, 1, 1, 1, 1, 1])), (e: unknown) => SpindleError.is(e, "ERR_PEM_INVALID"));
});
