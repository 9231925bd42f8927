// Home page (and the "room gone" page): create a room in one click, or join one by code/link.

import { ApiError, api, parseRoomInput, roomPath, savedNickname } from "./session.js";
import { NicknameDialog, bindCreateRoom, showIdentity } from "./ui.js";

function setError(node, message) {
  node.textContent = message;
  node.hidden = !message;
}

async function joinRoom(form, input, errorNode) {
  const code = parseRoomInput(input.value);
  setError(errorNode, "");
  input.removeAttribute("aria-invalid");
  if (!code) {
    setError(errorNode, "Paste a room link or type its code (letters and digits).");
    input.setAttribute("aria-invalid", "true");
    input.focus();
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await api("GET", `/api/rooms/${encodeURIComponent(code)}`);
    window.location.assign(roomPath(code));
  } catch (error) {
    let message = "Could not check that room. Please try again.";
    if (error instanceof ApiError && error.status === 404) {
      message = "There is no room with that code. It may have expired.";
    } else if (error instanceof ApiError && error.message) {
      message = error.message;
    }
    setError(errorNode, message);
    input.setAttribute("aria-invalid", "true");
    input.focus();
    button.disabled = false;
  }
}

/** Offer only the retentions this server allows; the newcomers choice only where it applies. */
function bindRetentionChoice() {
  const choice = document.querySelector("#retention-choice");
  if (!choice) return;
  const allowed = new Set((choice.dataset.allowed || "ephemeral").split(","));
  for (const option of choice.querySelectorAll(".keep__option")) {
    option.hidden = !allowed.has(option.dataset.kind);
  }
  choice.hidden = allowed.size < 2;
  const newcomers = choice.querySelector("#newcomers");
  const update = () => {
    const picked = choice.querySelector("input[name=retention]:checked");
    newcomers.hidden = !picked || picked.value === "ephemeral";
  };
  choice.addEventListener("change", update);
  update();
}

function main() {
  bindCreateRoom(document.querySelector("#create-error"));
  bindRetentionChoice();

  const form = document.querySelector("#join-form");
  if (form) {
    const input = form.querySelector("#room-input");
    const errorNode = form.querySelector("#join-error");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      joinRoom(form, input, errorNode);
    });
    input.addEventListener("input", () => {
      setError(errorNode, "");
      input.removeAttribute("aria-invalid");
    });
  }

  const gone = document.querySelector("#gone-code");
  if (gone) {
    const match = window.location.pathname.match(/^\/r\/([^/]+)/);
    if (match) {
      gone.textContent = decodeURIComponent(match[1]);
      gone.closest("[hidden]")?.removeAttribute("hidden");
    }
  }

  if (document.querySelector("#nickname-dialog")) {
    const dialog = new NicknameDialog();
    showIdentity(savedNickname());
    for (const button of document.querySelectorAll("[data-action=change-nickname]")) {
      button.addEventListener("click", async () => {
        const known = Boolean(savedNickname());
        const session = await dialog.open({
          title: known ? "Change how you appear" : "Choose how you appear",
          submitLabel: known ? "Save" : "Continue",
        });
        if (session) showIdentity(session.nickname);
        button.focus();
      });
    }
  }
}

main();
