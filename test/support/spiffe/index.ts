// Test helpers for every Spindle test that needs SPIFFE material. Never imported by production
// code (import from "test/support/spiffe/index.js" in *.test.ts files only).
export * from "./test-ca.js";
export * from "./test-jwt.js";
export * from "./test-bundle.js";
export * as der from "./der-writer.js";
