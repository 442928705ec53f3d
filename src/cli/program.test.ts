import { test } from "node:test";
import assert from "node:assert/strict";
import { SpindleError } from "../common/errors.js";
import { errorLine, runCli } from "./program.js";

test("errorLine: every CLI error is `error [CODE]: message` and exactly one newline", () => {
  assert.equal(errorLine(new SpindleError("ERR_NOT_FOUND", "no such entry")), "error [ERR_NOT_FOUND]: no such entry\n");
  assert.equal(errorLine(new SpindleError("ERR_NOT_FOUND", "trailing\n\n")), "error [ERR_NOT_FOUND]: trailing\n");
  assert.match(errorLine(new Error("boom")), /^error \[ERR_[A-Z_]+\]: .*boom\n$/);
});

test("usage errors from the argument parser take the same form", async () => {
  let err = "";
  const code = await runCli(["entry", "show", "--no-such-flag"], { stdout: () => {}, stderr: (s) => (err += s), env: {} });
  assert.equal(code, 1);
  assert.equal(err, "error [ERR_INVALID_ARGUMENT]: unknown option '--no-such-flag'\n");
});
