// The admin API client: every call carries the bearer token of the session (platform key or tenant
// token), and every failure becomes an ApiError with the gateway's code and a sentence a person can read.

import { state } from "./store.js";

// What to do when the gateway refuses the token: the session module decides (ask again, or sign out).
let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}
/** The gateway refused the token on a call made without `api` (a document's bytes). */
export const unauthorized = () => onUnauthorized();

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

const PLAIN_STATUS = {
  400: "The request was not accepted.",
  404: "Not found.",
  409: "This cannot be done in the current state.",
  413: "The request is too large.",
  422: "Some values are not valid.",
  429: "Too many requests; wait a moment and try again.",
  500: "The gateway hit an unexpected error. Try again; if it persists, check the gateway logs.",
  502: "Ironclad could not be reached or answered with an error. Try again later.",
  503: "A service the gateway needs is unavailable right now. Try again shortly.",
};

export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}`, Accept: "application/json" };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (exc) {
    throw new ApiError(0, "NETWORK", "Could not reach the gateway. Check your network connection and that the gateway is running.", {});
  }
  if (response.status === 401) {
    onUnauthorized();
    throw new ApiError(401, "UNAUTHORIZED", "The token was not accepted.", {});
  }
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : await response.text();
  if (!response.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(
      response.status,
      err.code || `HTTP_${response.status}`,
      err.message || PLAIN_STATUS[response.status] || `The gateway answered ${response.status}.`,
      err.details,
    );
  }
  return data;
}

export const tenantPath = () => `/api/v1/tenants/${encodeURIComponent(state.tenant)}`;

// The API's OpenAPI document, read once per page: the page takes lists it must not keep a copy of
// (transform kinds, notification event types) from it. A failed read is tried again next time.
let apiDocumentRead = null;
export function apiDocument() {
  if (!apiDocumentRead) {
    apiDocumentRead = api("GET", "/api/v1/openapi.json").catch((err) => {
      apiDocumentRead = null;
      throw err;
    });
  }
  return apiDocumentRead;
}
