export { createDatastore, type Datastore, type DatastoreOptions } from "./datastore.js";
export type { DatastoreIdentity } from "./identity.js";
export { parseDatastoreLocation, describeLocation, type DatastoreLocation } from "./open.js";
export type { EntryFilter, EntryPage, SelectorMatch } from "./entries.js";
export { MAX_PAGE_SIZE, SELECTOR_MATCHES } from "./entries.js";
export type { FederatedBundleRecord } from "./bundles.js";
export { hashToken } from "./tokens.js";
export type { BundleEndpointProfile, RelationshipWrite, StoredRelationship } from "./federation.js";
