// Small DOM helpers. Text always goes in as text nodes (never innerHTML), so data from the hub
// cannot become markup.
import { t } from "./i18n.js";

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function loading() {
  return h("div", { class: "state state-loading", role: "status" }, h("div", { class: "spinner" }), t("state.loading"));
}

export function empty(text) {
  return h("div", { class: "state state-empty" }, text || t("state.empty"));
}

export function errorState(err, retry) {
  return h(
    "div",
    { class: "state state-error", role: "alert" },
    h("strong", {}, t("state.error")),
    h("span", { class: "state-detail" }, describeError(err)),
    retry ? h("button", { class: "btn btn-small", type: "button", onclick: retry }, t("common.retry")) : null,
  );
}

export function describeError(err) {
  if (!err) return "";
  if (err.status === 404) return t("error.not_available");
  if (err.status === 403) return t("error.forbidden");
  if (err.status === 429) return t("error.throttled");
  if (err.status === 0 || err instanceof TypeError) return t("error.network");
  return err.message || String(err);
}

let toastTimer = null;
export function toast(text, kind) {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.dataset.kind = kind || "info";
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, 3000);
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Fall through to the selection-based copy.
    }
  }
  const area = h("textarea", { class: "offscreen", readonly: true });
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

// A read-only block of text with a copy button (secrets, command lines).
export function copyable(text, id) {
  const button = h("button", { class: "btn btn-small btn-primary", type: "button" }, t("common.copy"));
  button.addEventListener("click", async () => {
    const ok = await copyText(text);
    button.textContent = ok ? t("common.copied") : t("common.copy_failed");
    setTimeout(() => {
      button.textContent = t("common.copy");
    }, 2000);
  });
  return h("div", { class: "copyable" }, h("code", { id, class: "copy-text" }, text), button);
}

export function badge(text, kind) {
  return h("span", { class: "badge badge-" + kind }, text);
}

export function card(title, ...body) {
  return h("section", { class: "card" }, title ? h("h2", { class: "card-title" }, title) : null, ...body);
}

// A card whose body folds away under its title (forms that are not the page's main content).
export function foldable(id, title, open, ...body) {
  return h("details", { class: "card", open }, h("summary", { id, class: "card-title" }, title), ...body);
}

export function pageHeader(title, ...actions) {
  return h("div", { class: "page-header" }, h("h1", {}, title), h("div", { class: "page-actions" }, ...actions));
}

export function roleName(role) {
  return (
    {
      owner: t("role.owner"),
      admin: t("role.admin"),
      manager: t("role.manager"),
      warehouse: t("role.warehouse"),
      finance: t("role.finance"),
      pos: t("role.pos"),
    }[role] ?? role
  );
}

// A button that asks for a second click before doing something that cannot be undone.
export function confirmButton(label, confirmLabel, action) {
  const button = h("button", { class: "btn btn-small btn-danger", type: "button" }, label);
  let armed = false;
  let timer = null;
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      button.textContent = confirmLabel;
      button.classList.add("armed");
      timer = setTimeout(() => {
        armed = false;
        button.textContent = label;
        button.classList.remove("armed");
      }, 4000);
      return;
    }
    clearTimeout(timer);
    button.disabled = true;
    try {
      await action();
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

export function debounce(f, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => f(...args), ms);
  };
}
