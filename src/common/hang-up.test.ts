import assert from "node:assert/strict";
import { test } from "node:test";
import { isClientHangUp } from "./hang-up.js";

const withCode = (code: string, cause?: unknown) => Object.assign(new Error(code, cause === undefined ? undefined : { cause }), { code });

test("EPIPE, ECONNRESET and premature closes are hang-ups, also as the cause of a wrapping error", () => {
  for (const code of ["EPIPE", "ECONNRESET", "ECONNABORTED", "ERR_STREAM_PREMATURE_CLOSE"]) assert.equal(isClientHangUp(withCode(code)), true, code);
  assert.equal(isClientHangUp(new Error("wrapped", { cause: withCode("EPIPE") })), true);
});

test("other errors are not: they stay warnings", () => {
  for (const err of [withCode("EACCES"), withCode("ERR_SOCKET_DIR_UNSAFE"), new Error("boom"), undefined, null, "EPIPE", { code: 32 }]) assert.equal(isClientHangUp(err), false, String(err));
});
