import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ERROR_CODES, GrpcStatus, SpindleError, isErrorCode } from "./errors.js";

test("docs/errors.md lists exactly the codes in ERROR_CODES with their gRPC status", () => {
  const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
  const rows = new Map<string, string>();
  for (const m of doc.matchAll(/^\| (ERR_[A-Z0-9_]+) \| ([A-Z_]+) \|/gm)) rows.set(m[1]!, m[2]!);
  const statusName = new Map(Object.entries(GrpcStatus).map(([k, v]) => [v, k]));
  for (const [code, status] of Object.entries(ERROR_CODES)) {
    assert.equal(rows.get(code), statusName.get(status), `docs/errors.md row for ${code}`);
  }
  for (const code of rows.keys()) assert.ok(isErrorCode(code), `docs/errors.md documents unknown code ${code}`);
});

test("SpindleError.from keeps SpindleErrors and wraps everything else as ERR_INTERNAL", () => {
  const e = new SpindleError("ERR_NOT_FOUND", "entry x not found", { details: { id: "x" } });
  assert.equal(SpindleError.from(e), e);
  assert.equal(e.grpcStatus, GrpcStatus.NOT_FOUND);
  const wrapped = SpindleError.from(new Error("boom"));
  assert.equal(wrapped.code, "ERR_INTERNAL");
  assert.equal((wrapped.cause as Error).message, "boom");
  assert.equal(SpindleError.from("str").code, "ERR_INTERNAL");
  assert.ok(SpindleError.is(e, "ERR_NOT_FOUND"));
  assert.ok(!SpindleError.is(e, "ERR_INTERNAL"));
});
