// Public surface of src/authz: SPIFFE-ID allow-lists compiled to Envoy RBAC (docs/authz.md).
// Pure: no I/O; callers pass file text and get text or messages back.
export type { CallerPattern, HeaderMatch, Mode, PathMatch, Policy, Rule, RuleKind, Service, SourcePos } from "./model.js";
export { findService, hasHttpConditions } from "./model.js";
export type { Problem, Severity } from "./problems.js";
export { formatProblem, hasErrors, sortProblems } from "./problems.js";
export { loadPolicy, requirePolicy, type LoadPolicyResult } from "./policy-load.js";
export { compileAll, compilePolicy, compileService, selectService, statSlug, type CompileOptions, type CompileResult } from "./compile.js";
export * from "./envoy-json.js";
export { callerMatchers, DEFAULT_MAX_REGEX_PROGRAM_SIZE, estimateRegexProgramSize } from "./principals.js";
export { evaluate, type AccessRequest, type Decision, type Peer, type RuleDecision } from "./evaluate.js";
export { describeRule, explainDecision, nearestAllowRule, ruleDifferences } from "./explain.js";
export { renderAllServices, renderFilters, type OutputFormat } from "./render.js";
export { denyAllFilter, toTypedExtensionConfig } from "./typed-config.js";
export { lintPolicy, subsumes } from "./lint.js";
export { loadCases, runCases, type CaseResult, type Expectation, type TestCase } from "./cases.js";
