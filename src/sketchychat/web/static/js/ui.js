// DOM helpers shared by the pages. User data only ever reaches the page through
// textContent / DOM attributes set here; nothing is parsed as HTML.

import { ApiError, api, createSession, roomPath, savedNickname } from "./session.js";

/** Create an element: el("p", {class: "x", text: "hi"}, child, ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

const TRAILING = /[.,;:!?'"\u2019\u201d]+$/;

/**
 * Split text into [{text}] and [{text, href}] pieces; only http(s) URLs become links.
 * Trailing punctuation and an unbalanced closing bracket stay outside the link.
 */
export function linkTokens(text) {
  const tokens = [];
  const pattern = /\bhttps?:\/\/[^\s<>"]+/gi;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    let url = match[0];
    for (;;) {
      const trimmed = url.replace(TRAILING, "");
      let next = trimmed;
      const closer = { ")": "(", "]": "[", "}": "{" }[next.at(-1)];
      if (closer && count(next, next.at(-1)) > count(next, closer)) next = next.slice(0, -1);
      if (next === url) break;
      url = next;
    }
    let href = null;
    try {
      const parsed = new URL(url);
      if ((parsed.protocol === "http:" || parsed.protocol === "https:") && parsed.host) {
        href = parsed.href;
      }
    } catch {
      href = null;
    }
    if (href === null) continue;
    if (match.index > last) tokens.push({ text: text.slice(last, match.index) });
    tokens.push({ text: url, href });
    last = match.index + url.length;
  }
  if (last < text.length) tokens.push({ text: text.slice(last) });
  return tokens;
}

function count(text, char) {
  let n = 0;
  for (const c of text) if (c === char) n += 1;
  return n;
}

/** A fragment with the text, where http(s) links are safe <a> elements. */
export function linkify(text) {
  const fragment = document.createDocumentFragment();
  for (const token of linkTokens(text)) {
    if (token.href) {
      fragment.append(
        el("a", { href: token.href, rel: "noopener noreferrer", target: "_blank", text: token.text }),
      );
    } else {
      fragment.append(document.createTextNode(token.text));
    }
  }
  return fragment;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function timeElement(ms) {
  const date = new Date(typeof ms === "number" ? ms : Date.now());
  return el("time", {
    datetime: date.toISOString(),
    title: fullFormat.format(date),
    text: timeFormat.format(date),
  });
}

const AVATAR_COLOURS = 8;

/** A stable colour class for a person, from their user_id. */
export function avatarClass(userId) {
  // FNV-1a, then fold the high bits in: similar ids still spread over the colours.
  let hash = 0x811c9dc5;
  for (const c of String(userId)) hash = Math.imul(hash ^ c.codePointAt(0), 0x01000193) >>> 0;
  hash = (hash ^ (hash >>> 16)) >>> 0;
  return `avatar avatar--${hash % AVATAR_COLOURS}`;
}

export function initial(nickname) {
  const first = [...String(nickname).trim()][0] ?? "?";
  return first.toUpperCase();
}

export function show(node, visible = true) {
  node.hidden = !visible;
}

/** Copy text to the clipboard; falls back to a hidden textarea. Resolves to true/false. */
export async function copyText(text) {
  try {
    if (navigator.clipboard && globalThis.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the old way
  }
  const area = el("textarea", { class: "offscreen", readonly: true, "aria-hidden": "true" });
  area.value = text;
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

/**
 * The nickname dialog of a page (#nickname-dialog). `open({required})` resolves with the new
 * session, or null when the person cancels (never when `required`).
 */
export class NicknameDialog {
  constructor(root = document) {
    this.dialog = root.querySelector("#nickname-dialog");
    this.form = this.dialog.querySelector("form");
    this.input = this.dialog.querySelector("#nickname");
    this.error = this.dialog.querySelector("#nickname-error");
    this.title = this.dialog.querySelector("#nickname-title");
    this.cancelButton = this.dialog.querySelector("#nickname-cancel");
    this.submitButton = this.dialog.querySelector("button[type=submit]");
    this.required = false;
    this.resolve = null;

    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.cancelButton.addEventListener("click", () => this.finish(null));
    this.dialog.addEventListener("cancel", (event) => {
      event.preventDefault(); // Escape: close ourselves, unless a nickname is required
      if (!this.required) this.finish(null);
    });
    this.input.addEventListener("input", () => this.setError(""));
  }

  open({ required = false, title = null, submitLabel = null } = {}) {
    this.required = required;
    this.cancelButton.hidden = required;
    if (title) this.title.textContent = title;
    this.defaultSubmit ??= this.submitButton.textContent;
    this.submitButton.textContent = submitLabel ?? this.defaultSubmit;
    this.input.value = savedNickname() ?? "";
    this.setError("");
    if (!this.dialog.open) this.dialog.showModal();
    this.input.focus();
    this.input.select();
    const earlier = this.resolve;
    if (earlier) earlier(null); // a second open() supersedes the first
    return new Promise((resolve) => {
      this.resolve = resolve;
    });
  }

  setError(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
    if (message) this.input.setAttribute("aria-invalid", "true");
    else this.input.removeAttribute("aria-invalid");
  }

  async submit() {
    if (this.submitButton.disabled) return;
    this.submitButton.disabled = true;
    this.setError("");
    try {
      const session = await createSession(this.input.value);
      this.finish(session);
    } catch (error) {
      const message =
        error instanceof ApiError && error.message
          ? error.message
          : "Something went wrong. Please try again.";
      this.setError(message);
      this.input.focus();
    } finally {
      this.submitButton.disabled = false;
    }
  }

  finish(result) {
    if (this.dialog.open) this.dialog.close();
    const resolve = this.resolve;
    this.resolve = null;
    if (resolve) resolve(result);
  }
}

/** Bind the "chatting as … / Change" widget (#me-name, #change-nickname) of a page. */
export function showIdentity(nickname) {
  const name = document.querySelector("#me-name");
  const wrapper = document.querySelector("#me");
  if (name) name.textContent = nickname ?? "";
  if (wrapper) wrapper.hidden = !nickname;
  const pick = document.querySelector("#pick-nickname");
  if (pick) pick.hidden = Boolean(nickname);
}

/** The retention picked on the home page (`{}`: ephemeral, when there is no choice). */
export function chosenRetention() {
  const picked = document.querySelector("input[name=retention]:checked");
  if (!picked || picked.value === "ephemeral") return {};
  const joinedOnly = document.querySelector("input[name=history]");
  return { retention: picked.value, history: joinedOnly && joinedOnly.checked ? "joined" : "shared" };
}

/** Make every [data-action=create-room] button create a room and go to it. */
export function bindCreateRoom(errorNode) {
  for (const button of document.querySelectorAll("[data-action=create-room]")) {
    button.addEventListener("click", () => createRoom(button, errorNode));
  }
}

async function createRoom(button, errorNode) {
  if (button.getAttribute("aria-busy") === "true") return;
  button.setAttribute("aria-busy", "true");
  button.disabled = true;
  if (errorNode) errorNode.hidden = true;
  try {
    const room = await api("POST", "/api/rooms", { body: chosenRetention() });
    const target =
      typeof room.url === "string" && room.url.startsWith("/r/") ? room.url : roomPath(room.code);
    window.location.assign(target);
  } catch (error) {
    if (errorNode) {
      errorNode.textContent =
        error instanceof ApiError && error.status !== 0 && error.message
          ? error.message
          : "Could not create a room. Check your connection and try again.";
      errorNode.hidden = false;
    }
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}
