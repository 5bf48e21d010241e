// API 密钥: partner API keys with their scopes; a new key's secret is shown once.
import { call, get, session } from "../api.js";
import { formatAgo, formatTime, t } from "../i18n.js";
import { pagedList } from "../list.js";
import { badge, card, checkboxes, checked, clear, confirmButton, copyable, describeError, foldable, h, pageHeader, toast } from "../ui.js";

export const page = {
  route: "keys",
  permission: "api_keys:write",
  nav: {
    labelKey: "nav.keys",
    order: 80,
    bar: false,
    icon: { d: "M14 3a7 7 0 0 0-6.7 9.1L2 17.4V22h4.6l.9-.9V19h2.1v-2.1h2.1l1.2-1.2A7 7 0 1 0 14 3m2.5 3A1.5 1.5 0 1 1 16.5 9a1.5 1.5 0 0 1 0-3" },
  },
  render: keysPage,
};

const SCOPES = [
  "stock:read",
  "orders:read",
  "orders:write",
  "shipments:read",
  "shipments:write",
  "shops:read",
  "shops:write",
  "events:read",
  "dashboard:read",
  "agents:read",
  "agents:write",
  "users:read",
  "users:write",
  "api_keys:write",
  "owner",
];
// The secret of the key made last, shown once (kept across a language switch, never stored).
let lastSecret = null;

function secretResult(created) {
  return h(
    "div",
    { id: "key-secret" },
    h("p", { class: "alert alert-warn" }, t("keys.secret_once", { name: created.key.name })),
    copyable(created.secret, "key-secret-text"),
  );
}

const columns = (reload) => [
  { key: "name", label: t("keys.name"), cell: (k) => [h("strong", {}, k.name), h("div", { class: "muted small mono" }, k.id)] },
  { key: "scopes", label: t("keys.scopes"), cell: (k) => h("div", { class: "chips" }, k.scopes.map((s) => badge(s, "role"))) },
  { key: "last_used", label: t("keys.last_used"), cell: (k) => formatAgo(k.last_used_at) },
  { key: "created", label: t("keys.created"), cls: "muted", cell: (k) => [formatTime(k.created_at), k.created_by ? h("div", { class: "small" }, k.created_by) : null] },
  {
    key: "actions",
    label: "",
    cls: "actions",
    cell: (k) =>
      k.revoked_at
        ? badge(t("keys.revoked"), "muted")
        : confirmButton(t("keys.revoke"), t("keys.revoke_confirm"), async () => {
            try {
              await call("POST", `/api/v1/api-keys/${encodeURIComponent(k.id)}/revoke`);
              toast(t("keys.revoked_toast", { name: k.name }), "ok");
              reload();
            } catch (e) {
              toast(describeError(e), "error");
            }
          }),
  },
];

export function keysPage(main) {
  const list = pagedList({
    columns: columns(() => list.refresh()),
    key: (k) => k.id,
    rowAttrs: (k) => ({ dataset: { key: k.id } }),
    async fetchPage() {
      const { keys } = await get("/api/v1/api-keys");
      keys.sort((a, b) => Number(!!a.revoked_at) - Number(!!b.revoked_at) || b.created_at.localeCompare(a.created_at));
      return { items: keys, next: null };
    },
    emptyText: () => t("keys.empty"),
    frame: (tableEl) => card(t("keys.list"), tableEl),
  });
  const load = () => list.refresh();

  const name = h("input", { id: "key-name", autocomplete: "off", required: true, placeholder: t("keys.name_placeholder") });
  const scopes = checkboxes("scope", SCOPES.map((s) => [s, s]), t("keys.scopes"));
  scopes.querySelector('input[value="stock:read"]').checked = true;
  const error = h("p", { class: "alert alert-error", role: "alert", hidden: true });
  const result = h("div", {}, lastSecret ? secretResult(lastSecret) : null);
  const submit = h("button", { class: "btn btn-primary", type: "submit", id: "key-submit" }, t("keys.create"));
  const form = h("form", { class: "form-grid", id: "key-form" }, h("label", {}, h("span", {}, t("keys.name")), name), scopes, h("div", { class: "form-actions" }, submit));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const chosen = checked(form, "scope");
    if (!name.value.trim() || !chosen.length) {
      error.textContent = t("keys.incomplete");
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    try {
      lastSecret = await call("POST", "/api/v1/api-keys", { name: name.value.trim(), scopes: chosen });
      clear(result, secretResult(lastSecret));
      form.reset();
      scopes.querySelector('input[value="stock:read"]').checked = true;
      load();
    } catch (err) {
      error.textContent = describeError(err);
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });

  clear(main, pageHeader(t("nav.keys")), foldable("key-new-toggle", t("keys.new"), !!lastSecret, h("p", { class: "muted" }, t("keys.help")), form, error, result), list.el);
  list.load();
  return {
    onEvent() {},
    dispose: () => {
      list.dispose();
      // Kept over a language switch (same page), forgotten on leaving the page or signing out.
      if (!session() || location.hash !== "#/keys") lastSecret = null;
    },
  };
}
