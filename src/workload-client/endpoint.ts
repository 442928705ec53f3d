// Workload API addresses (Workload Endpoint standard, section 4): `unix:///abs/path` or
// `tcp://<ip>:<port>`. A bare absolute path is accepted too (the `--socket-path` flag). The result
// is a grpc-js target.
import { isIP } from "node:net";
import { spindleError } from "../common/errors.js";

function bad(address: string, why: string): never {
  throw spindleError("ERR_WORKLOAD_API_ENDPOINT", `invalid Workload API address ${JSON.stringify(address)}: ${why}; expected unix:///absolute/path or tcp://<ip>:<port>`);
}

/** Turns an endpoint address into a grpc-js target (`unix:///path` or `ip:port`). */
export function workloadApiTarget(address: string): string {
  if (address.startsWith("/")) return `unix://${address}`;
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    bad(address, "not a URL");
  }
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") bad(address, "must not carry userinfo, a query or a fragment");
  if (url.protocol === "unix:") {
    if (url.host !== "") bad(address, "a unix address has no host (use three slashes: unix:///path)");
    if (url.pathname === "" || url.pathname === "/") bad(address, "the socket path is empty");
    return `unix://${decodeURIComponent(url.pathname)}`;
  }
  if (url.protocol === "tcp:") {
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    if (isIP(host) === 0) bad(address, "the host must be an IP address");
    if (url.port === "") bad(address, "the port is missing");
    if (url.pathname !== "" && url.pathname !== "/") bad(address, "a tcp address has no path");
    return isIP(host) === 6 ? `[${host}]:${url.port}` : `${host}:${url.port}`;
  }
  bad(address, `unsupported scheme ${JSON.stringify(url.protocol.slice(0, -1))}`);
}
