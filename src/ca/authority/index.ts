// The CA core of `spindle server`: authorities, rotation (docs/design/wire-facts.md, "Rotation and
// sync numbers"), minting of X.509-SVIDs and JWT-SVIDs, upstream mode, and a memory journal store.
export { createCertificateAuthority } from "./certificate-authority.js";
export type { ManagedCertificateAuthority, AuthorityRecordOf } from "./certificate-authority.js";
export type { AuthorityKind } from "./authority-set.js";
export type { AuthorityStatus } from "./bundle-view.js";
export type { CertificateAuthorityOptions } from "./options.js";
export { createMemoryJournalStore } from "./journal-store.js";
export type { MemoryJournalStore } from "./journal-store.js";
export { createUpstreamAuthority, loadUpstreamAuthority } from "./upstream.js";
export type { UpstreamAuthority, UpstreamInput, UpstreamFiles } from "./upstream.js";
export { prepareTime, activateTime } from "./rotation.js";
export { safeActivationTime, PUBLISH_HINT_MULTIPLE } from "./rotation.js";
export { publicationLeadMs } from "./options.js";
export { createServerSvidSource } from "./server-svid.js";
export type { ServerSvid, ServerSvidSource, ServerSvidOptions } from "./server-svid.js";
