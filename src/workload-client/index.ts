// Public surface of the Workload API client used by `spindle api` and by tests.
export { workloadApiTarget } from "./endpoint.js";
export {
  createWorkloadApiClient,
  decodeX509Context,
  type WorkloadApiClient,
  type WorkloadApiClientOptions,
  type WorkloadApiWatch,
  type X509Context,
  type X509SvidDocument,
} from "./client.js";
