// 仓库: the warehouses dispatch chooses from, with their kind (an agent's WMS, a 3PL over
// Qimen, or phone confirmation), coverage, priority and cost; configuring a new one and
// changing one (shops:write). A 3PL's secret goes to the hub and never comes back: left empty
// when changing, the stored one is kept.
import { call, get } from "../api.js";
import { warehouseKindName } from "../fulfilment-detail.js";
import { formatMoney, formatNumber, t } from "../i18n.js";
import { pagedList } from "../list.js";
import { NONE, badge, card, clear, describeError, foldable, h, pageHeader, toast } from "../ui.js";

export const page = {
  route: "warehouses",
  permission: "shops:read",
  nav: {
    labelKey: "nav.warehouses",
    order: 45,
    bar: false,
    icon: { d: "M12 3 2 8v13h4v-9h12v9h4V8zm-4 11v2h8v-2zm0 4v3h8v-3z" },
  },
  render: warehousesPage,
};

const KINDS = ["agent", "qimen", "phone"];
const CURRENCIES = ["CNY", "USD"];

// "12.5" → 1250 minor units (two decimals), exactly, or null when it is not an amount.
function toMinor(text) {
  const m = /^(\d{1,10})(?:\.(\d{1,2}))?$/.exec(text.trim());
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] || "").padEnd(2, "0"));
}

function fromMinor(minor) {
  return `${Math.floor(minor / 100)}.${String(minor % 100).padStart(2, "0")}`;
}

// "上海, 浙江省，江苏省" → ["上海", "浙江省", "江苏省"].
function regions(text) {
  return text
    .split(/[,，、\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

function coverageText(c) {
  const all = [...(c?.provinces || []), ...(c?.cities || [])];
  return all.length ? all.join("、") : t("wh.everywhere");
}

function field(label, input, wide) {
  return h("label", { class: wide ? "wide" : null }, h("span", {}, label), input);
}

// The form of a new warehouse, or of `existing` when changing it.
function warehouseForm(existing, onSaved) {
  const w = existing || {};
  const code = h("input", { id: "wh-code", required: true, autocomplete: "off", maxlength: "64", value: w.code || "", readonly: !!existing });
  const name = h("input", { id: "wh-name", required: true, autocomplete: "off", maxlength: "64", value: w.name || "" });
  const kind = h("select", { id: "wh-kind" }, KINDS.map((k) => h("option", { value: k, selected: k === (w.kind || "phone") }, warehouseKindName(k))));
  const agent = h("input", { id: "wh-agent", autocomplete: "off", value: w.agent_id || "" });
  const q = w.qimen || {};
  const endpoint = h("input", { id: "wh-qimen-endpoint", type: "url", inputmode: "url", autocomplete: "off", value: q.endpoint || "" });
  const keep = existing?.kind === "qimen" ? t("wh.keep_secret") : "";
  const appKey = h("input", { id: "wh-qimen-app-key", autocomplete: "off", spellcheck: "false", placeholder: keep });
  const secret = h("input", { id: "wh-qimen-secret", type: "password", autocomplete: "new-password", placeholder: keep });
  const customer = h("input", { id: "wh-qimen-customer", autocomplete: "off", value: q.customer_id || "" });
  const owner = h("input", { id: "wh-qimen-owner", autocomplete: "off", value: q.owner_code || "" });
  const provinces = h("input", { id: "wh-provinces", autocomplete: "off", placeholder: t("wh.provinces_placeholder"), value: (w.coverage?.provinces || []).join("、") });
  const cities = h("input", { id: "wh-cities", autocomplete: "off", placeholder: t("wh.cities_placeholder"), value: (w.coverage?.cities || []).join("、") });
  const priority = h("input", { id: "wh-priority", type: "number", min: "0", max: "1000", step: "1", inputmode: "numeric", value: String(w.priority ?? 10) });
  const cost = h("input", { id: "wh-cost", inputmode: "decimal", autocomplete: "off", value: w.cost ? fromMinor(w.cost.minor) : "0.00" });
  const currency = h("select", { id: "wh-currency" }, CURRENCIES.map((c) => h("option", { value: c, selected: c === (w.cost?.currency || "CNY") }, c)));
  const enabled = h("input", { id: "wh-enabled", type: "checkbox", checked: w.enabled ?? true });
  const agentBox = h("div", { class: "form-grid wide" }, field(t("wh.agent_id"), agent));
  const qimenBox = h(
    "fieldset",
    { class: "checks cred-set" },
    h("legend", {}, t("wh.qimen")),
    h("div", { class: "form-grid" }, field(t("wh.qimen_endpoint"), endpoint, true), field(t("wh.qimen_app_key"), appKey), field(t("wh.qimen_secret"), secret), field(t("wh.qimen_customer"), customer), field(t("wh.qimen_owner"), owner)),
  );
  const showKind = () => {
    agentBox.hidden = kind.value !== "agent";
    qimenBox.hidden = kind.value !== "qimen";
  };
  kind.addEventListener("change", showKind);
  showKind();
  const error = h("p", { class: "alert alert-error", role: "alert", hidden: true });
  const submit = h("button", { class: "btn btn-primary", type: "submit", id: "wh-submit" }, existing ? t("common.save") : t("wh.add"));
  const form = h(
    "form",
    { class: "form-grid", id: existing ? "wh-edit-form" : "wh-form" },
    field(t("wh.code"), code),
    field(t("wh.name"), name),
    field(t("wh.kind"), kind),
    agentBox,
    qimenBox,
    field(t("wh.provinces"), provinces, true),
    field(t("wh.cities"), cities, true),
    field(t("wh.priority"), priority),
    field(t("wh.cost"), cost),
    field(t("wh.currency"), currency),
    h("label", { class: "check" }, enabled, h("span", {}, t("wh.enabled"))),
    h("div", { class: "form-actions" }, submit),
  );
  const fail = (text) => {
    error.textContent = text;
    error.hidden = false;
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const minor = toMinor(cost.value);
    if (!code.value.trim() || !name.value.trim()) return fail(t("wh.incomplete"));
    if (minor === null) return fail(t("wh.bad_cost"));
    const body = {
      code: code.value.trim(),
      name: name.value.trim(),
      kind: kind.value,
      coverage: { provinces: regions(provinces.value), cities: regions(cities.value) },
      priority: Number(priority.value || 0),
      cost: { minor, currency: currency.value },
      enabled: enabled.checked,
    };
    if (kind.value === "agent") body.agent_id = agent.value.trim();
    if (kind.value === "qimen") {
      body.qimen = { endpoint: endpoint.value.trim(), customer_id: customer.value.trim(), owner_code: owner.value.trim() };
      // Left empty: the stored ones are kept.
      if (appKey.value.trim()) body.qimen.app_key = appKey.value.trim();
      if (secret.value) body.qimen.secret = secret.value;
    }
    submit.disabled = true;
    try {
      const saved = existing
        ? await call("PUT", `/api/v1/warehouses/${encodeURIComponent(existing.code)}`, body)
        : await call("POST", "/api/v1/warehouses", body);
      toast(t("wh.saved_toast", { code: saved.code }), "ok");
      // The secret leaves the page as soon as the hub has it.
      secret.value = "";
      appKey.value = "";
      if (!existing) form.reset();
      onSaved();
    } catch (err) {
      fail(describeError(err));
    } finally {
      submit.disabled = false;
    }
  });
  return h("div", {}, form, error);
}

const columns = (write, edit) => [
  { key: "code", label: t("wh.code"), cell: (w) => [h("strong", { class: "mono" }, w.code), h("div", { class: "muted small" }, w.name)] },
  {
    key: "kind",
    label: t("wh.kind"),
    cell: (w) => [
      warehouseKindName(w.kind),
      w.agent_id ? h("div", { class: "muted small mono" }, w.agent_id) : null,
      w.qimen ? h("div", { class: "muted small url" }, w.qimen.endpoint) : null,
      w.qimen ? h("div", {}, w.qimen.secret?.configured ? badge(t("shops.secret_set"), "ok") : badge(t("shops.secret_unset"), "warn")) : null,
    ],
  },
  { key: "coverage", label: t("wh.coverage"), cell: (w) => coverageText(w.coverage) },
  { key: "priority", label: t("wh.priority"), cls: "num", cell: (w) => formatNumber(w.priority) },
  { key: "cost", label: t("wh.cost"), cls: "num", cell: (w) => formatMoney(w.cost) },
  { key: "open", label: t("wh.open_deliveries"), cls: "num", cell: (w) => formatNumber(w.open_deliveries) },
  { key: "enabled", label: t("wh.enabled"), cell: (w) => (w.enabled ? badge(t("wh.on"), "ok") : badge(t("wh.off"), "muted")) },
  {
    key: "actions",
    label: "",
    cls: "actions",
    cell: (w) => (write ? h("button", { class: "btn btn-small", type: "button", dataset: { edit: w.code }, onclick: () => edit(w) }, t("wh.edit")) : NONE),
  },
];

export function warehousesPage(main, ctx) {
  const write = ctx.can("shops:write");
  const editor = h("div", { id: "wh-editor" });
  let list = null;
  const edit = (w) => {
    clear(editor, card(t("wh.edit_title", { code: w.code }), warehouseForm(w, () => {
      clear(editor);
      list.refresh();
    }), h("button", { class: "btn btn-ghost btn-small", type: "button", onclick: () => clear(editor) }, t("common.cancel"))));
    editor.scrollIntoView({ block: "start" });
  };
  list = pagedList({
    id: "wh-list",
    columns: columns(write, edit),
    key: (w) => w.code,
    rowAttrs: (w) => ({ dataset: { warehouse: w.code, kind: w.kind } }),
    fetchPage: async () => ({ items: (await get("/api/v1/warehouses")).warehouses, next: null }),
    emptyText: () => t("wh.empty"),
    frame: (tableEl) => card(t("wh.list"), tableEl),
  });
  const add = write ? foldable("wh-new-toggle", t("wh.new"), false, h("p", { class: "muted" }, t("wh.help")), warehouseForm(null, () => list.refresh())) : null;
  clear(main, pageHeader(t("nav.warehouses")), add, editor, list.el);
  list.load();
  return {
    onEvent(ev) {
      if (String(ev.kind || "").startsWith("deliver")) list.refresh();
    },
    dispose: () => list.dispose(),
  };
}
