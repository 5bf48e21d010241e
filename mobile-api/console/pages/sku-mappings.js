// 商品映射: the table tying platform SKU ids or merchant codes to internal SKUs. An order's
// unmapped line links here with the form filled in (`#/sku-mappings?platform=…&…`).
import { call, get } from "../api.js";
import { formatTime, t } from "../i18n.js";
import { pagedList } from "../list.js";
import { PLATFORMS, card, clear, confirmButton, describeError, foldable, h, pageHeader, platformName, toast } from "../ui.js";

export const page = {
  route: "sku-mappings",
  permission: "orders:read",
  nav: {
    labelKey: "nav.mappings",
    order: 50,
    bar: false,
    icon: { d: "M3.9 12c0-1.71 1.39-3.1 3.1-3.1h4V7H7a5 5 0 0 0 0 10h4v-1.9H7A3.1 3.1 0 0 1 3.9 12M8 13h8v-2H8zm9-6h-4v1.9h4a3.1 3.1 0 0 1 0 6.2h-4V17h4a5 5 0 0 0 0-10" },
  },
  render: mappingsPage,
};

function select(id, options, value) {
  return h(
    "select",
    { id },
    options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)),
  );
}

// The mapping an order's line asked for, from the route's query (null when none).
function draftFromRoute() {
  const query = new URLSearchParams(location.hash.split("?")[1] || "");
  if (!query.get("platform")) return null;
  return { platform: query.get("platform"), platform_sku_id: query.get("platform_sku_id"), merchant_sku: query.get("merchant_sku") };
}

function addMappingCard(onCreated) {
  const draft = draftFromRoute();
  const platform = select("map-platform", PLATFORMS.map((p) => [p, platformName(p)]), draft?.platform || "taobao");
  const useMerchant = !!draft && !draft.platform_sku_id && !!draft.merchant_sku;
  const kind = select(
    "map-kind",
    [
      ["platform_sku_id", t("mappings.platform_sku_id")],
      ["merchant_sku", t("mappings.merchant_sku")],
    ],
    useMerchant ? "merchant_sku" : "platform_sku_id",
  );
  const key = h("input", { id: "map-key", autocomplete: "off", required: true, value: (useMerchant ? draft.merchant_sku : draft?.platform_sku_id) || "" });
  const sku = h("input", { id: "map-sku", autocomplete: "off", required: true, placeholder: t("mappings.sku_placeholder") });
  const error = h("p", { class: "alert alert-error", role: "alert", hidden: true });
  const submit = h("button", { class: "btn btn-primary", type: "submit", id: "map-submit" }, t("mappings.add"));
  const form = h(
    "form",
    { class: "form-grid", id: "map-form" },
    h("label", {}, h("span", {}, t("orders.platform")), platform),
    h("label", {}, h("span", {}, t("mappings.key_kind")), kind),
    h("label", {}, h("span", {}, t("mappings.key")), key),
    h("label", {}, h("span", {}, t("mappings.sku")), sku),
    h("div", { class: "form-actions" }, submit),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    if (!key.value.trim() || !sku.value.trim()) {
      error.textContent = t("mappings.incomplete");
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    try {
      const body = { platform: platform.value, sku: sku.value.trim() };
      body[kind.value] = key.value.trim();
      await call("POST", "/api/v1/sku-mappings", body);
      toast(t("mappings.created_toast", { sku: body.sku }), "ok");
      form.reset();
      // The line's draft is used: a reload or language switch starts from an empty form.
      if (draft) history.replaceState(null, "", "#/sku-mappings");
      onCreated();
    } catch (err) {
      error.textContent = describeError(err);
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  if (draft) setTimeout(() => sku.focus(), 0);
  return foldable("map-new-toggle", t("mappings.new"), !!draft, h("p", { class: "muted" }, t("mappings.help")), form, error);
}

const columns = (write, reload) => [
  { key: "platform", label: t("orders.platform"), cell: (m) => platformName(m.platform) },
  {
    key: "key",
    label: t("mappings.key"),
    cell: (m) => [
      m.platform_sku_id ? h("div", {}, h("span", { class: "muted small" }, t("mappings.platform_sku_id"), " "), h("span", { class: "mono" }, m.platform_sku_id)) : null,
      m.merchant_sku ? h("div", {}, h("span", { class: "muted small" }, t("mappings.merchant_sku"), " "), h("span", { class: "mono" }, m.merchant_sku)) : null,
    ],
  },
  { key: "sku", label: t("mappings.sku"), cell: (m) => h("strong", { class: "sku" }, m.sku) },
  { key: "created", label: t("mappings.created"), cls: "muted", cell: (m) => formatTime(m.created_at) },
  {
    key: "actions",
    label: "",
    cls: "actions",
    cell: (m) =>
      write
        ? confirmButton(t("mappings.delete"), t("mappings.delete_confirm"), async () => {
            try {
              await call("DELETE", `/api/v1/sku-mappings/${encodeURIComponent(m.id)}`);
              toast(t("mappings.deleted_toast"), "ok");
              reload();
            } catch (e) {
              toast(describeError(e), "error");
            }
          })
        : null,
  },
];

export function mappingsPage(main, ctx) {
  const write = ctx.can("orders:write");
  const list = pagedList({
    id: "mappings-list",
    columns: columns(write, () => list.refresh()),
    key: (m) => m.id,
    rowAttrs: (m) => ({ dataset: { mapping: m.id } }),
    fetchPage: async () => ({ items: (await get("/api/v1/sku-mappings")).mappings, next: null }),
    emptyText: () => t("mappings.empty"),
    frame: (tableEl) => card(t("mappings.list"), tableEl),
  });
  clear(main, pageHeader(t("nav.mappings")), write ? addMappingCard(() => list.refresh()) : null, list.el);
  list.load();
  return {
    onEvent() {},
    dispose: () => list.dispose(),
  };
}
