// Reading an HTTP response body with a size bound: the kubelet, Docker Engine and Kubernetes API
// clients all refuse answers larger than they can reasonably be.
import type { ClientRequest, IncomingMessage } from "node:http";

/**
 * Resolves with the body of `res` as UTF-8. Past `maxBytes` the request is destroyed with
 * `tooLarge` as its error (the request's "error" listener sees it) and nothing more is buffered.
 */
export function readBoundedBody(req: ClientRequest, res: IncomingMessage, maxBytes: number, tooLarge: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on("data", (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) req.destroy(new Error(tooLarge));
      else chunks.push(c);
    });
    res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    res.on("error", reject);
  });
}
