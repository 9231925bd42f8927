// Talking to the HTTP API and remembering who we are in this browser.
//
// localStorage keeps the nickname and the current session (token, user_id, nickname), so all
// tabs of one browser share one user_id and show up as one person in a room.

const NICKNAME_KEY = "sketchychat:nickname";
const SESSION_KEY = "sketchychat:session";
// Re-issue a token this long before it expires, so a connect never races the expiry.
const EXPIRY_MARGIN_S = 120;

export const ROOM_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz";

/** An error from the API, carrying the server's `error` code and `message` sentence. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || `Request failed (${status}).`);
    this.status = status;
    this.code = code;
  }
}

/** fetch + JSON, throwing ApiError for any non-2xx answer and for network failures. */
export async function api(method, path, { body, token } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network", "Could not reach the server. Check your connection.");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const code = data && typeof data.error === "string" ? data.error : "http_error";
    const message = data && typeof data.message === "string" ? data.message : "";
    throw new ApiError(response.status, code, message);
  }
  return data ?? {};
}

function storage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // storage disabled: everything still works for this page's lifetime
  }
}

const memory = new Map();

function read(key) {
  const store = storage();
  try {
    return store ? store.getItem(key) : memory.get(key) ?? null;
  } catch {
    return memory.get(key) ?? null;
  }
}

function write(key, value) {
  memory.set(key, value);
  const store = storage();
  try {
    if (store) store.setItem(key, value);
  } catch {
    // quota or privacy mode: the in-memory copy is enough
  }
}

export function savedNickname() {
  const value = read(NICKNAME_KEY);
  return value && value.trim() ? value : null;
}

/** The JSON claims of a token `<base64url JSON>.<sig>` (exp, iat, ...); null if unreadable. */
export function tokenClaims(token) {
  if (typeof token !== "string") return null;
  const payload = token.split(".")[0];
  if (!payload) return null;
  try {
    const b64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

/** The token's `exp` (unix seconds), or null when it cannot be read. */
export function tokenExpiry(token) {
  const claims = tokenClaims(token);
  return claims && typeof claims.exp === "number" ? claims.exp : null;
}

/**
 * Is the token good for a while yet? It is renewed a little before it expires: two minutes,
 * or a tenth of its lifetime when that is shorter. An unreadable expiry is left to the server.
 */
export function tokenIsFresh(token, nowMs = Date.now()) {
  const claims = tokenClaims(token);
  if (!claims || typeof claims.exp !== "number") return true;
  let margin = EXPIRY_MARGIN_S;
  if (typeof claims.iat === "number" && claims.exp > claims.iat) {
    margin = Math.min(margin, (claims.exp - claims.iat) / 10);
  }
  return claims.exp - margin > nowMs / 1000;
}

/** The stored session if it is for `nickname` and not about to expire. */
export function storedSession(nickname = savedNickname()) {
  const raw = read(SESSION_KEY);
  if (!raw || !nickname) return null;
  try {
    const session = JSON.parse(raw);
    if (
      session &&
      typeof session.token === "string" &&
      typeof session.user_id === "string" &&
      session.nickname === nickname &&
      tokenIsFresh(session.token)
    ) {
      return session;
    }
  } catch {
    // fall through: a broken entry is replaced
  }
  return null;
}

/** POST /api/session; remembers nickname and session. Throws ApiError (e.g. 422). */
export async function createSession(nickname) {
  const data = await api("POST", "/api/session", { body: { nickname } });
  const session = { token: data.token, user_id: data.user_id, nickname: data.nickname };
  write(NICKNAME_KEY, session.nickname);
  write(SESSION_KEY, JSON.stringify(session));
  return session;
}

/** A usable session for the remembered nickname: the stored one, or a fresh one. */
export async function ensureSession() {
  const nickname = savedNickname();
  if (!nickname) return null;
  return storedSession(nickname) ?? createSession(nickname);
}

/**
 * Ask the server whether `token` is still accepted (the browser cannot see why a WebSocket
 * upgrade failed). Returns "valid", "invalid" or "unknown" (server unreachable).
 */
export async function checkToken(token) {
  try {
    await api("GET", "/api/session", { token });
    return "valid";
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      return "invalid";
    }
    return "unknown";
  }
}

/**
 * A room code from what a person pasted: a bare code, a path (/r/<code>) or a full link.
 * Returns null when nothing code-like is found.
 */
export function parseRoomInput(input) {
  let text = String(input ?? "").trim().toLowerCase();
  if (!text) return null;
  if (/^https?:\/\//.test(text)) {
    try {
      text = new URL(text).pathname;
    } catch {
      return null;
    }
  }
  text = text.replace(/[?#].*$/, "");
  const path = text.match(/^\/?r\/([^/]+)\/?$/);
  const code = path ? path[1] : text.replace(/\/+$/, "");
  return /^[a-z0-9]{4,32}$/.test(code) ? code : null;
}

export function roomPath(code) {
  return `/r/${encodeURIComponent(code)}`;
}
