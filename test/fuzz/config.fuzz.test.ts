// Mutated server and agent YAML configs through their loaders (file -> YAML -> env expansion ->
// schema): every malformed file must end in a SpindleError (ERR_CONFIG_READ / ERR_CONFIG_INVALID
// listing the problems), never another exception. Its own file so that it runs beside the others.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { loadAgentConfig } from "../../src/cli/config/agent-config.js";
import { loadServerConfig } from "../../src/cli/config/server-config.js";
import { createParserFuzzer } from "./parser-fuzz.js";

const fuzz = createParserFuzzer("configs");
const tmp = mkdtempSync(join(tmpdir(), "spindle-fuzz-config-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

it("YAML configs (server and agent)", async () => {
  const file = join(tmp, "config.yaml");
  const load = (loader: (f: string) => unknown) => (text: string) => {
    writeFileSync(file, text);
    return loader(file);
  };
  const serverSeeds = ["conf/server.yaml", "conf/server-full.yaml"].map((f) => readFileSync(f, "utf8"));
  await fuzz("server-config-yaml", serverSeeds, load((f) => loadServerConfig({ configFile: f, flags: {}, env: {}, cwd: tmp })));
  const agentSeeds = ["conf/agent.yaml", "conf/agent-full.yaml"].map((f) => readFileSync(f, "utf8"));
  await fuzz("agent-config-yaml", agentSeeds, load((f) => loadAgentConfig({ configFile: f, flags: {}, env: {}, cwd: tmp })));
});

