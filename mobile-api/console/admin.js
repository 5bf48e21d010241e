// The admin pages: users and API keys (owner or admin).
import { call, get, session } from "./api.js";
import { formatAgo, formatTime, t } from "./i18n.js";
import { badge, card, clear, foldable, confirmButton, copyable, describeError, empty, errorState, h, loading, pageHeader, roleName, toast } from "./ui.js";

const USER_ROLES = ["owner", "admin", "manager", "warehouse", "finance"];
const PASSWORD_CHARS_MIN = 12;

// options: [[value, label]]
function checkboxes(name, options, legend) {
  return h(
    "fieldset",
    { class: "checks" },
    h("legend", {}, legend),
    options.map(([value, label]) => h("label", { class: "check" }, h("input", { type: "checkbox", name, value }), h("span", {}, label))),
  );
}

function checked(form, name) {
  return [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
}

function tableOf(headers, rows) {
  return h(
    "div",
    { class: "table-wrap" },
    h("table", { class: "table" }, h("thead", {}, h("tr", {}, headers.map(([text, c]) => h("th", { class: c }, text)))), h("tbody", {}, rows)),
  );
}

// ---------------------------------------------------------------- users

export function usersPage(main) {
  const list = h("div", { class: "page-body" }, loading());
  let alive = true;

  async function load() {
    try {
      const { users } = await get("/api/v1/users");
      if (!alive) return;
      users.sort((a, b) => a.username.localeCompare(b.username));
      clear(
        list,
        users.length
          ? card(
              t("users.list"),
              tableOf(
                [[t("users.username")], [t("users.roles")], [t("users.status")], [t("users.created"), "hide-phone"], [""]],
                users.map((u) =>
                  h(
                    "tr",
                    { dataset: { user: u.username } },
                    h("td", {}, h("strong", {}, u.username), u.warehouses.length ? h("div", { class: "muted small" }, u.warehouses.join(", ")) : null),
                    h("td", {}, h("div", { class: "chips" }, u.roles.map((r) => badge(roleName(r), "role")))),
                    h("td", {}, u.disabled ? badge(t("users.disabled"), "muted") : badge(t("users.active"), "ok")),
                    h("td", { class: "hide-phone muted" }, formatTime(u.created_at)),
                    h("td", { class: "actions" }, h("div", { class: "row-actions" }, editButton(u, load), toggleButton(u, load))),
                  ),
                ),
              ),
            )
          : empty(t("users.empty")),
      );
    } catch (e) {
      if (alive) clear(list, errorState(e, load));
    }
  }

  clear(main, pageHeader(t("nav.users")), createUserCard(load), list);
  load();
  return {
    onEvent() {},
    dispose: () => {
      alive = false;
    },
  };
}

function parseWarehouses(text) {
  return text
    .split(/[,，\s]+/)
    .map((w) => w.trim())
    .filter(Boolean);
}

// Opens a row under the user's row to change roles and warehouses.
function editButton(u, reload) {
  const button = h("button", { class: "btn btn-small", type: "button" }, t("users.edit"));
  button.addEventListener("click", () => {
    const row = button.closest("tr");
    if (row.nextElementSibling?.classList.contains("edit-row")) return;
    const roles = checkboxes("edit-role", USER_ROLES.map((r) => [r, roleName(r)]), t("users.roles"));
    for (const input of roles.querySelectorAll("input")) input.checked = u.roles.includes(input.value);
    const warehouses = h("input", { value: u.warehouses.join(", "), placeholder: t("users.warehouses_placeholder") });
    const warehouseLabel = h("label", { hidden: !u.roles.includes("warehouse") }, h("span", {}, t("users.warehouses")), warehouses);
    const error = h("p", { class: "alert alert-error", role: "alert", hidden: true });
    const save = h("button", { class: "btn btn-small btn-primary", type: "submit" }, t("common.save"));
    const cancel = h("button", { class: "btn btn-small", type: "button" }, t("common.cancel"));
    const form = h("form", { class: "form-grid" }, roles, warehouseLabel, h("div", { class: "form-actions" }, save, cancel), error);
    const editRow = h("tr", { class: "edit-row" }, h("td", { colspan: "5" }, form));
    form.addEventListener("change", () => {
      warehouseLabel.hidden = !checked(form, "edit-role").includes("warehouse");
    });
    cancel.addEventListener("click", () => editRow.remove());
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const chosen = checked(form, "edit-role");
      if (!chosen.length) {
        error.textContent = t("users.role_required");
        error.hidden = false;
        return;
      }
      save.disabled = true;
      try {
        const list = chosen.includes("warehouse") ? parseWarehouses(warehouses.value) : [];
        await call("PATCH", `/api/v1/users/${encodeURIComponent(u.username)}`, { roles: chosen, warehouses: list });
        toast(t("users.saved_toast", { name: u.username }), "ok");
        reload();
      } catch (err) {
        error.textContent = describeError(err);
        error.hidden = false;
      } finally {
        save.disabled = false;
      }
    });
    row.after(editRow);
    editRow.scrollIntoView({ block: "nearest" });
  });
  return button;
}

function toggleButton(u, reload) {
  const patch = async (disabled) => {
    try {
      await call("PATCH", `/api/v1/users/${encodeURIComponent(u.username)}`, { disabled });
      reload();
    } catch (e) {
      toast(describeError(e), "error");
    }
  };
  if (u.disabled) {
    return h("button", { class: "btn btn-small", type: "button", onclick: () => patch(false) }, t("users.enable"));
  }
  return confirmButton(t("users.disable"), t("users.disable_confirm"), () => patch(true));
}

function createUserCard(onCreated) {
  const username = h("input", { id: "user-name", autocomplete: "off", required: true });
  const password = h("input", { id: "user-password", type: "password", autocomplete: "new-password", required: true, minlength: String(PASSWORD_CHARS_MIN) });
  const warehouses = h("input", { id: "user-warehouses", placeholder: t("users.warehouses_placeholder"), autocomplete: "off" });
  const warehouseLabel = h("label", { hidden: true }, h("span", {}, t("users.warehouses")), warehouses);
  const roles = checkboxes("role", USER_ROLES.map((r) => [r, roleName(r)]), t("users.roles"));
  const error = h("p", { class: "alert alert-error", role: "alert", hidden: true });
  const submit = h("button", { class: "btn btn-primary", type: "submit" }, t("users.create"));
  const form = h(
    "form",
    { class: "form-grid" },
    h("label", {}, h("span", {}, t("users.username")), username),
    h("label", {}, h("span", {}, t("users.password")), password),
    roles,
    warehouseLabel,
    h("div", { class: "form-actions" }, submit),
  );
  form.addEventListener("change", () => {
    warehouseLabel.hidden = !checked(form, "role").includes("warehouse");
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const chosen = checked(form, "role");
    const problem =
      !username.value.trim()
        ? t("users.username_required")
        : [...password.value].length < PASSWORD_CHARS_MIN
          ? t("users.password_short", { n: PASSWORD_CHARS_MIN })
          : !chosen.length
            ? t("users.role_required")
            : null;
    if (problem) {
      error.textContent = problem;
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    try {
      const list = chosen.includes("warehouse") ? parseWarehouses(warehouses.value) : [];
      await call("POST", "/api/v1/users", { username: username.value.trim(), password: password.value, roles: chosen, warehouses: list });
      toast(t("users.created_toast", { name: username.value.trim() }), "ok");
      form.reset();
      warehouseLabel.hidden = true;
      onCreated();
    } catch (err) {
      error.textContent = describeError(err);
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  return foldable("user-new-toggle", t("users.new"), false, form, error);
}

// ---------------------------------------------------------------- API keys

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

export function keysPage(main) {
  const list = h("div", { class: "page-body" }, loading());
  let alive = true;

  async function load() {
    try {
      const { keys } = await get("/api/v1/api-keys");
      if (!alive) return;
      keys.sort((a, b) => Number(!!a.revoked_at) - Number(!!b.revoked_at) || b.created_at.localeCompare(a.created_at));
      clear(
        list,
        keys.length
          ? card(
              t("keys.list"),
              tableOf(
                [[t("keys.name")], [t("keys.scopes")], [t("keys.last_used"), "hide-phone"], [t("keys.created"), "hide-phone"], [""]],
                keys.map((k) =>
                  h(
                    "tr",
                    { dataset: { key: k.id } },
                    h("td", {}, h("strong", {}, k.name), h("div", { class: "muted small mono" }, k.id)),
                    h("td", {}, h("div", { class: "chips" }, k.scopes.map((s) => badge(s, "role")))),
                    h("td", { class: "hide-phone" }, formatAgo(k.last_used_at)),
                    h("td", { class: "hide-phone muted" }, formatTime(k.created_at), k.created_by ? h("div", { class: "small" }, k.created_by) : null),
                    h(
                      "td",
                      { class: "actions" },
                      k.revoked_at
                        ? badge(t("keys.revoked"), "muted")
                        : confirmButton(t("keys.revoke"), t("keys.revoke_confirm"), async () => {
                            try {
                              await call("POST", `/api/v1/api-keys/${encodeURIComponent(k.id)}/revoke`);
                              toast(t("keys.revoked_toast", { name: k.name }), "ok");
                              load();
                            } catch (e) {
                              toast(describeError(e), "error");
                            }
                          }),
                    ),
                  ),
                ),
              ),
            )
          : empty(t("keys.empty")),
      );
    } catch (e) {
      if (alive) clear(list, errorState(e, load));
    }
  }

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

  clear(main, pageHeader(t("nav.keys")), foldable("key-new-toggle", t("keys.new"), !!lastSecret, h("p", { class: "muted" }, t("keys.help")), form, error, result), list);
  load();
  return {
    onEvent() {},
    dispose: () => {
      alive = false;
      // Kept over a language switch (same page), forgotten on leaving the page or signing out.
      if (!session() || location.hash !== "#/keys") lastSecret = null;
    },
  };
}
