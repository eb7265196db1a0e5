// The page's one store: plain state, `set` to change it, `subscribe` to be told. Each view subscribes to
// the keys it shows and renders from `state` alone, so a change made anywhere (a load, a click, another
// tab) shows everywhere it matters, and nothing renders from a half-updated object.

export const state = {
  token: null,
  // Set when signed in with a tenant token: {sub, role, tenant, exp} as the token says (the gateway checks it).
  session: null,
  tenant: "demo",
  connection: null,
  scopes: [],
  runs: { items: [], error: null },
  audit: { items: [], cursor: null, error: null },
  tracking: null, // run id whose progress is shown
  loaded: { mapping: false, contracts: false, audit: false },
  fields: [],
  targets: [],
  suggestions: [],
  mapping: null,
  rows: [],
  ruleErrors: new Map(),
  // The transform kinds in the order the API lists them, each with its model's schema (its parameters),
  // both read from the API's own OpenAPI document: the models the server validates with.
  transformKinds: [],
  transformSchemas: {},
  contracts: { items: [], cursor: null, q: "" },
  // Health tab: {phase: "idle" | "loading" | "ready" | "unavailable" | "error", data, error} each.
  health: { phase: "idle", data: null, error: null },
  runStats: { phase: "idle", data: null, error: null },
  // Notifications card: the stored settings, the event types offered, the secret of the last save that
  // made one (shown once, in memory only), the last save's outcome and the recent deliveries.
  notifications: { phase: "idle", settings: null, events: [], error: null, secret: null, result: null, deliveries: { items: [], cursor: null, error: null } },
  // Operator view (platform key only): the filter, the page listed, the message being acted on (busy)
  // and the outcome of the last replay or discard (result).
  deadLetters: { phase: "idle", queues: [], items: [], nextCursor: null, queue: "", tenant: "", error: null, busy: null, result: null },
};

const listeners = new Map(); // key -> Set of functions

/** Call `render(state)` whenever one of `keys` is set; returns the function that stops it. */
export function subscribe(keys, render) {
  for (const key of keys) {
    if (!listeners.has(key)) listeners.set(key, new Set());
    listeners.get(key).add(render);
  }
  return () => keys.forEach((key) => listeners.get(key).delete(render));
}

/** Merge `patch` into the state, then render each subscriber of a changed key once. */
export function set(patch) {
  Object.assign(state, patch);
  const due = new Set();
  for (const key of Object.keys(patch)) for (const render of listeners.get(key) || []) due.add(render);
  for (const render of due) render(state);
}
