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

// Calls f at most once every ms, the last call of a burst included: live updates stay current
// under a stream of events without fetching for each one.
export function atMostEvery(ms, f) {
  let last = 0;
  let timer = null;
  return () => {
    if (timer) return;
    const wait = Math.max(0, last + ms - Date.now());
    timer = setTimeout(() => {
      timer = null;
      last = Date.now();
      f();
    }, wait);
  };
}

export function debounce(f, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => f(...args), ms);
  };
}

// A fieldset of checkboxes named `name`; options: [[value, label]].
export function checkboxes(name, options, legend) {
  return h(
    "fieldset",
    { class: "checks" },
    h("legend", {}, legend),
    options.map(([value, label]) => h("label", { class: "check" }, h("input", { type: "checkbox", name, value }), h("span", {}, label))),
  );
}

// The values of the checked boxes named `name` in form.
export function checked(form, name) {
  return [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
}

// The placeholder for a value the hub does not know (yet).
export const NONE = "—";

export function platformName(p) {
  return (
    {
      taobao: t("platform.taobao"),
      tmall: t("platform.tmall"),
      jd: t("platform.jd"),
      shopify: t("platform.shopify"),
      woocommerce: t("platform.woocommerce"),
    }[p] ?? p
  );
}

export const PLATFORMS = ["taobao", "tmall", "jd", "shopify", "woocommerce"];

export const ORDER_STATUSES = [
  "pending_payment",
  "payment_processing",
  "payment_failed",
  "paid",
  "on_hold",
  "partially_shipped",
  "shipped",
  "delivered",
  "completed",
  "cancelled",
  "refunded",
  "deleted",
];

export function orderStatusName(s) {
  return (
    {
      pending_payment: t("order.status.pending_payment"),
      payment_processing: t("order.status.payment_processing"),
      payment_failed: t("order.status.payment_failed"),
      paid: t("order.status.paid"),
      on_hold: t("order.status.on_hold"),
      partially_shipped: t("order.status.partially_shipped"),
      shipped: t("order.status.shipped"),
      delivered: t("order.status.delivered"),
      completed: t("order.status.completed"),
      cancelled: t("order.status.cancelled"),
      refunded: t("order.status.refunded"),
      deleted: t("order.status.deleted"),
    }[s] ?? s
  );
}

// The badge colour of an order status.
export function orderStatusKind(s) {
  if (["paid", "partially_shipped"].includes(s)) return "warn";
  if (["shipped", "delivered", "completed"].includes(s)) return "ok";
  if (["payment_failed", "on_hold"].includes(s)) return "error";
  return "muted";
}

export function refundStateName(s) {
  return (
    {
      none: t("refund.none"),
      requested: t("refund.requested"),
      awaiting_return: t("refund.awaiting_return"),
      return_in_transit: t("refund.return_in_transit"),
      refused: t("refund.refused"),
      closed: t("refund.closed"),
      partially_refunded: t("refund.partially_refunded"),
      refunded: t("refund.refunded"),
      exchanging: t("refund.exchanging"),
    }[s] ?? s
  );
}
