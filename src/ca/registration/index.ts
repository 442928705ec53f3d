export * from "./entry.js";
export { validateEntryInput, entryProblems, dnsNameProblem, entryInvalid, type EntryLimits, type EntryProblem, type ValidEntry, type SelectorCheckOptions } from "./validate.js";
export { spiffeIdProblem, trustDomainProblem, trustDomainOf } from "../../spiffe/spiffe-check.js";
export { createRegistration, DEFAULT_JOIN_TOKEN_TTL, MAX_JOIN_TOKEN_TTL, type Registration, type RegistrationOptions, type BatchResult, type JoinToken, type EntryWriteOptions } from "./registration.js";
