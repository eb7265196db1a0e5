// Who is signed in, and how: the platform key (asked once, kept in sessionStorage, any workspace), or a
// tenant token from a link (/admin/#token=…: one workspace, as admin or viewer). Both are kept for this
// browser tab only, never in localStorage.

import { api, whenUnauthorized } from "./api.js";
import { $, clear, h } from "./dom.js";
import { set, state } from "./store.js";

const TOKEN_KEY = "contracts-ai-admin-token";
const TENANT_TOKEN_KEY = "contracts-ai-tenant-token";
const TENANT_KEY = "contracts-ai-admin-tenant";
export const TENANT_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

// A tenant token comes in the fragment (/admin/#token=…), which browsers never send to a server. It is
// taken out of the address bar first thing (when this module is evaluated, before anything is shown), so
// it stays in no history entry, bookmark or shared screen.
const LINK_TOKEN = takeTokenFromAddress();

function takeTokenFromAddress() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (!token) return null;
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", `${location.pathname}${location.search}${rest ? `#${rest}` : ""}`);
  return token;
}

// What the page does around a sign-in and a sign-out (load the workspace, stop polling): main.js says.
const hooks = { signedIn: async () => {}, signedOut: () => {} };
export function onSession({ signedIn, signedOut }) {
  hooks.signedIn = signedIn;
  hooks.signedOut = signedOut;
}

/** May this session change the workspace? The platform key and a tenant admin may; a viewer only reads. */
export const canChange = () => !state.session || state.session.role === "admin";
/** Signed in with the platform key (Contracts AI's backend, every workspace): the operator view is for it. */
export const isPlatform = () => Boolean(state.token) && !state.session;

whenUnauthorized(() => {
  if (state.session) {
    endTenantSession("Your sign-in has expired or is no longer valid. Open this page again from Contracts AI.");
  } else {
    forgetToken("The admin token was not accepted. Enter it again.");
  }
});

function tokenClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent([...atob(part)].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join(""));
    const claims = JSON.parse(json);
    return claims && typeof claims === "object" ? claims : null;
  } catch (exc) {
    return null;
  }
}

async function startTenantSession(token) {
  const claims = tokenClaims(token);
  document.body.classList.add("tenant-mode");
  $("#tenant-form").hidden = true;
  $("#token-section").hidden = true;
  if (!claims || !TENANT_RE.test(String(claims.tenant || "")) || !["admin", "viewer"].includes(claims.role)) {
    endTenantSession("This link holds no valid sign-in. Open this page again from Contracts AI.");
    return;
  }
  set({
    session: { sub: String(claims.sub || ""), role: claims.role, tenant: claims.tenant, exp: claims.exp },
    token,
    tenant: claims.tenant,
  });
  document.body.classList.toggle("viewer", claims.role === "viewer");
  try {
    set({ scopes: await api("GET", "/api/v1/ironclad/scopes") });
  } catch (err) {
    if (err.status !== 401) endTenantSession(err.message);
    return;
  }
  sessionStorage.setItem(TENANT_TOKEN_KEY, token);
  const who = $("#signed-in");
  clear(who).append(
    "Signed in as ", h("strong", { id: "signed-in-user" }, state.session.sub), " · ",
    h("span", { class: "role", id: "signed-in-role" }, claims.role === "admin" ? "Admin" : "Viewer (read only)"),
    " · workspace ", h("code", { id: "signed-in-tenant" }, state.tenant));
  who.hidden = false;
  $("#forget-token").textContent = "Sign out";
  $("#forget-token").hidden = false;
  $("#session-ended").hidden = true;
  $("#app").hidden = false;
  await hooks.signedIn();
}

export function endTenantSession(message) {
  set({ token: null });
  sessionStorage.removeItem(TENANT_TOKEN_KEY);
  hooks.signedOut();
  $("#app").hidden = true;
  $("#signed-in").hidden = true;
  $("#forget-token").hidden = true;
  $("#session-ended-text").textContent = message;
  $("#session-ended").hidden = false;
}

export function forgetToken(message) {
  set({ token: null });
  sessionStorage.removeItem(TOKEN_KEY);
  hooks.signedOut();
  $("#app").hidden = true;
  $("#forget-token").hidden = true;
  $("#token-section").hidden = false;
  $("#token-error").textContent = message || "";
  $("#token-input").setAttribute("aria-invalid", message ? "true" : "false");
  $("#token-input").value = "";
  $("#token-input").focus();
}

export async function startWithToken(token) {
  set({ token });
  try {
    set({ scopes: await api("GET", "/api/v1/ironclad/scopes") });
  } catch (err) {
    if (err.status !== 401) {
      $("#token-error").textContent = err.message;
      $("#token-section").hidden = false;
    }
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("#token-section").hidden = true;
  $("#app").hidden = false;
  $("#forget-token").hidden = false;
  await hooks.signedIn();
}

function initialTenant() {
  const fromUrl = new URLSearchParams(location.search).get("tenant");
  if (fromUrl && TENANT_RE.test(fromUrl)) return fromUrl;
  const stored = sessionStorage.getItem(TENANT_KEY);
  return stored && TENANT_RE.test(stored) ? stored : "demo";
}

/** Open another workspace (platform key only; a tenant token has no Workspace box). */
export function chooseTenant(value) {
  set({ tenant: value });
  sessionStorage.setItem(TENANT_KEY, value);
  const url = new URL(location.href);
  url.searchParams.set("tenant", value);
  history.replaceState(null, "", url);
}

export function signOut() {
  if (state.session) endTenantSession("You are signed out.");
  else forgetToken("");
}

/** Resume this tab's session: a link's tenant token first, then a kept one, else ask for the platform key. */
export function resumeSession() {
  set({ tenant: initialTenant() });
  $("#tenant-input").value = state.tenant;
  const tenantToken = LINK_TOKEN || sessionStorage.getItem(TENANT_TOKEN_KEY);
  if (tenantToken) {
    startTenantSession(tenantToken);
    return;
  }
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) startWithToken(token);
  else forgetToken("");
}
