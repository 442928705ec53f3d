// The lab's web service: plain HTTP on 127.0.0.1:8080, reachable only through its Envoy sidecar,
// which forwards the caller's verified SPIFFE ID in x-forwarded-client-cert.
import { createServer } from "node:http";

createServer((req, res) => {
  res.setHeader("content-type", "text/plain");
  res.end(`hello from web; ${req.method} ${req.url}; caller: ${req.headers["x-forwarded-client-cert"] ?? "(none)"}\n`);
}).listen(8080, "127.0.0.1", () => process.stdout.write("web app on 127.0.0.1:8080\n"));
