// Renders compiled filters as YAML or JSON text: proto field names (snake_case, as in Envoy's
// YAML), `@type` on every typed_config, stable key order, so the same policy always gives
// byte-identical output.
import { stringify } from "yaml";
import type { CompileResult } from "./compile.js";
import type { CompiledFilter } from "./envoy-json.js";

export type OutputFormat = "yaml" | "json";

/** One service's filters: a list to paste under `http_filters` (or a chain's `filters`). */
export function renderFilters(filters: readonly CompiledFilter[], format: OutputFormat): string {
  return render(filters, format);
}

/** Every service: `{services: {<service>: [filters...]}}`, in file order. */
export function renderAllServices(results: readonly CompileResult[], format: OutputFormat): string {
  const services: Record<string, CompiledFilter[]> = {};
  for (const r of results) services[r.service] = r.filters;
  return render({ services }, format);
}

function render(value: unknown, format: OutputFormat): string {
  if (format === "json") return `${JSON.stringify(value, null, 2)}\n`;
  return stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
}
