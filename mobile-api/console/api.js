// Talking to the hub: sign-in, tokens, JSON calls and the live event stream.
//
// The access token lives only in memory. The refresh token is kept in sessionStorage: it
// survives a reload of the tab (so a phone that reloads the page stays signed in) but not the
// closing of the tab or browser, and other tabs cannot see it — on a shared warehouse phone that
// is the safer choice than localStorage. The strict Content-Security-Policy (no inline or
// foreign scripts) is what keeps other scripts away from it.

const REFRESH_KEY = "xt.refresh";
const TENANT_KEY = "xt.tenant";
// Refresh this long before the access token expires.
const REFRESH_EARLY_MS = 30_000;
// Reconnect delays of the event stream: capped exponential with jitter.
const STREAM_RETRY_BASE_MS = 1_000;
const STREAM_RETRY_MAX_MS = 30_000;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

let access = null; // { token, claims, expiresAt }
let refreshing = null; // the in-flight refresh, shared by concurrent callers
let refreshTimer = null;
const sessionListeners = [];

export function onSessionEnd(f) {
  sessionListeners.push(f);
}

export function session() {
  return access?.claims ?? null;
}

export function savedTenant() {
  return localStorage.getItem(TENANT_KEY) || "";
}

// The JWT payload, decoded without verification: the browser only uses it to decide which pages
// to show; the hub checks every request itself.
function decodeClaims(token) {
  const part = token.split(".")[1] || "";
  const b64 = part.replaceAll("-", "+").replaceAll("_", "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

function adopt(pair) {
  access = {
    token: pair.access_token,
    claims: decodeClaims(pair.access_token),
    expiresAt: Date.now() + pair.expires_in * 1000,
  };
  sessionStorage.setItem(REFRESH_KEY, pair.refresh_token);
  clearTimeout(refreshTimer);
  const due = Math.max(5_000, pair.expires_in * 1000 - REFRESH_EARLY_MS);
  refreshTimer = setTimeout(() => refresh().catch(() => {}), due);
}

async function readError(resp) {
  try {
    const body = await resp.json();
    return new ApiError(resp.status, body?.error?.code, body?.error?.message);
  } catch {
    return new ApiError(resp.status, "http_" + resp.status, `HTTP ${resp.status}`);
  }
}

async function post(path, body) {
  const resp = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!resp.ok) throw await readError(resp);
  return resp.status === 204 ? null : resp.json();
}

export async function login(tenant, username, password) {
  const pair = await post("/api/v1/auth/login", { tenant, username, password });
  localStorage.setItem(TENANT_KEY, tenant);
  adopt(pair);
  return access.claims;
}

// Swaps the refresh token for a new pair; concurrent callers share one request (a refresh token
// used twice would revoke its whole family).
export function refresh() {
  if (!refreshing) {
    const token = sessionStorage.getItem(REFRESH_KEY);
    refreshing = (async () => {
      if (!token) throw new ApiError(401, "unauthorized", "no session");
      try {
        adopt(await post("/api/v1/auth/refresh", { refresh_token: token }));
        return access.claims;
      } catch (e) {
        if (e.status === 401 || e.status === 400) endSession("expired");
        throw e;
      }
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

// Resumes a session kept in sessionStorage, if there is one.
export async function resume() {
  if (!sessionStorage.getItem(REFRESH_KEY)) return null;
  try {
    return await refresh();
  } catch {
    return null;
  }
}

function endSession(reason) {
  clearTimeout(refreshTimer);
  access = null;
  sessionStorage.removeItem(REFRESH_KEY);
  for (const f of sessionListeners) f(reason);
}

export async function logout() {
  const token = sessionStorage.getItem(REFRESH_KEY);
  endSession("logout");
  if (token) {
    try {
      await post("/api/v1/auth/logout", { refresh_token: token });
    } catch {
      // Signed out locally either way; the refresh token expires on its own.
    }
  }
}

async function bearer() {
  if (!access || access.expiresAt - Date.now() < 5_000) await refresh();
  return access.token;
}

// A JSON call with the access token; on a 401 it refreshes once and tries again.
export async function call(method, path, body) {
  for (let attempt = 0; ; attempt++) {
    const headers = { authorization: "Bearer " + (await bearer()) };
    if (body !== undefined) headers["content-type"] = "application/json";
    const resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (resp.status === 401 && attempt === 0) {
      await refresh();
      continue;
    }
    if (!resp.ok) throw await readError(resp);
    // 202 and 204 answers may have no body at all.
    const text = await resp.text();
    return text ? JSON.parse(text) : null;
  }
}

export const get = (path) => call("GET", path);

// The live event stream (`GET /api/v1/events`). EventSource cannot send an Authorization
// header, so this reads the stream with fetch and parses Server-Sent Events itself, resuming
// with Last-Event-ID and reconnecting with capped backoff.
export class EventStream {
  constructor(onEvent, onState) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastId = null;
    this.failures = 0;
    this.controller = null;
    this.stopped = false;
  }

  start() {
    this.stopped = false;
    this.loop();
  }

  stop() {
    this.stopped = true;
    this.controller?.abort();
    this.onState("off");
  }

  async loop() {
    while (!this.stopped) {
      try {
        await this.connect();
      } catch (e) {
        if (this.stopped) return;
        if (e.status === 401) {
          try {
            await refresh();
          } catch {
            return;
          }
        }
      }
      if (this.stopped) return;
      this.onState("retry");
      this.failures += 1;
      const cap = Math.min(STREAM_RETRY_MAX_MS, STREAM_RETRY_BASE_MS * 2 ** Math.min(this.failures, 6));
      await new Promise((r) => setTimeout(r, cap / 2 + Math.random() * (cap / 2)));
    }
  }

  async connect() {
    this.controller = new AbortController();
    const headers = { authorization: "Bearer " + (await bearer()), accept: "text/event-stream" };
    if (this.lastId !== null) headers["last-event-id"] = this.lastId;
    const resp = await fetch("/api/v1/events", { headers, signal: this.controller.signal });
    if (!resp.ok) throw await readError(resp);
    this.failures = 0;
    this.onState("live");
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new ApiError(0, "stream_closed", "stream closed");
      buffer += value.replaceAll("\r\n", "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        this.dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  dispatch(block) {
    let id = null;
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "data") data.push(value);
    }
    if (id !== null) this.lastId = id;
    if (!data.length) return;
    try {
      this.onEvent(JSON.parse(data.join("\n")));
    } catch (e) {
      console.warn("unreadable event", e);
    }
  }
}
