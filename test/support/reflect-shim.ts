// Test tooling only: @peculiar/x509 loads tsyringe, which refuses to start without the Reflect
// metadata API. No decorator metadata is needed for parsing, so a minimal WeakMap-backed
// metadata store is enough. Imported before @peculiar/x509 by testing.ts.
type MetadataStore = WeakMap<object, Map<unknown, unknown>>;
const R = Reflect as unknown as {
  getMetadata?: (key: unknown, target: object) => unknown;
  defineMetadata?: (key: unknown, value: unknown, target: object) => void;
  hasMetadata?: (key: unknown, target: object) => boolean;
  getOwnMetadata?: (key: unknown, target: object) => unknown;
  hasOwnMetadata?: (key: unknown, target: object) => boolean;
  metadata?: (key: unknown, value: unknown) => (target: object) => void;
};
if (typeof R.getMetadata !== "function") {
  const store: MetadataStore = new WeakMap();
  const own = (target: object) => {
    let m = store.get(target);
    if (m === undefined) store.set(target, (m = new Map()));
    return m;
  };
  R.defineMetadata = (key, value, target) => void own(target).set(key, value);
  R.getMetadata = (key, target) => {
    for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t) as object | null) {
      const m = store.get(t);
      if (m?.has(key)) return m.get(key);
    }
    return undefined;
  };
  R.hasMetadata = (key, target) => R.getMetadata!(key, target) !== undefined;
  R.getOwnMetadata = (key, target) => store.get(target)?.get(key);
  R.hasOwnMetadata = (key, target) => store.get(target)?.has(key) ?? false;
  R.metadata = (key, value) => (target) => R.defineMetadata!(key, value, target);
}
export {};
