// 用户: the tenant's people, their roles and warehouses; making, changing and disabling them
// (users:write).
import { call, get } from "../api.js";
import { formatTime, t } from "../i18n.js";
import { pagedList } from "../list.js";
import { badge, card, checkboxes, checked, clear, confirmButton, describeError, foldable, h, pageHeader, roleName, toast } from "../ui.js";

export const page = {
  route: "users",
  permission: "users:read",
  nav: {
    labelKey: "nav.users",
    order: 70,
    bar: false,
    icon: { d: "M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8m0 2c-4 0-7 2-7 4.5V20h14v-2.5C16 15 13 13 9 13m8-2a3 3 0 1 0 0-6v6m1.5 2.2c1.9.6 3.5 1.9 3.5 4.3V20h-4v-2.5c0-1.7-.7-3.1-1.9-4.2z" },
  },
  render: usersPage,
};

const USER_ROLES = ["owner", "admin", "manager", "warehouse", "finance"];
const PASSWORD_CHARS_MIN = 12;

const columns = (write, reload) => [
  {
    key: "username",
    label: t("users.username"),
    cell: (u) => [h("strong", {}, u.username), u.warehouses.length ? h("div", { class: "muted small" }, u.warehouses.join(", ")) : null],
  },
  { key: "roles", label: t("users.roles"), cell: (u) => h("div", { class: "chips" }, u.roles.map((r) => badge(roleName(r), "role"))) },
  { key: "status", label: t("users.status"), cell: (u) => (u.disabled ? badge(t("users.disabled"), "muted") : badge(t("users.active"), "ok")) },
  { key: "created", label: t("users.created"), cls: "muted", cell: (u) => formatTime(u.created_at) },
  { key: "actions", label: "", cls: "actions", cell: (u) => (write ? h("div", { class: "row-actions" }, editButton(u, reload), toggleButton(u, reload)) : null) },
];

export function usersPage(main, ctx) {
  const write = ctx.can("users:write");
  const list = pagedList({
    columns: columns(write, () => list.refresh()),
    key: (u) => u.username,
    rowAttrs: (u) => ({ dataset: { user: u.username } }),
    async fetchPage() {
      const { users } = await get("/api/v1/users");
      users.sort((a, b) => a.username.localeCompare(b.username));
      return { items: users, next: null };
    },
    emptyText: () => t("users.empty"),
    frame: (tableEl) => card(t("users.list"), tableEl),
  });
  clear(main, pageHeader(t("nav.users")), write ? createUserCard(() => list.refresh()) : null, list.el);
  list.load();
  return {
    onEvent() {},
    dispose: () => list.dispose(),
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
        editRow.remove();
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

