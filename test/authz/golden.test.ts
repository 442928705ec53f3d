// Golden tests: the compiled output of every test/authz/golden/*.policy.yaml, for both filter
// kinds, must equal the checked-in file byte for byte. Regenerate with
// `npx tsx test/authz/regenerate-golden.ts` after an intended change and review the diff.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import type { JsonValue } from "@bufbuild/protobuf";
import { parse } from "yaml";
import { decodeEnvoyConfig } from "../../src/envoy/schema.js";
import { TypedExtensionConfigSchema } from "../../src/gen/envoy/config/core/v3/extension_pb.js";
import { goldenCases, renderGolden } from "./golden.js";

const dir = new URL("./golden/", import.meta.url);
const cases = goldenCases(readdirSync(dir));

test("there are golden files for every policy and filter kind", () => {
  assert.ok(cases.length >= 4, `found ${cases.length}`);
  for (const c of cases) assert.ok(readdirSync(dir).includes(c.expected), `missing ${c.expected}`);
});

for (const c of cases) {
  test(`golden: ${c.input} compiled as ${c.filter} equals ${c.expected}`, () => {
    const actual = renderGolden(readFileSync(new URL(c.input, dir), "utf8"), c.input, c.filter);
    assert.equal(actual, readFileSync(new URL(c.expected, dir), "utf8"));
  });

  test(`golden: every filter in ${c.expected} decodes with Envoy's generated types`, () => {
    const doc = parse(readFileSync(new URL(c.expected, dir), "utf8")) as { services: Record<string, { name: string; typed_config: unknown }[]> };
    for (const filters of Object.values(doc.services)) {
      assert.deepEqual(filters.map((f) => f.name), ["spindle.authz.deny", "spindle.authz.allow"]);
      for (const f of filters) {
        const msg = decodeEnvoyConfig(TypedExtensionConfigSchema, f as unknown as JsonValue, { source: c.expected });
        assert.match(msg.typedConfig?.typeUrl ?? "", new RegExp(`envoy\\.extensions\\.filters\\.${c.filter}\\.rbac\\.v3\\.RBAC$`));
      }
    }
  });
}
