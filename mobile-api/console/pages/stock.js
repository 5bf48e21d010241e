// 库存: stock levels by SKU prefix and warehouse, cursor paged, patched live from stock events.
import { get, session } from "../api.js";
import { formatNumber, formatTime, t } from "../i18n.js";
import { pagedList } from "../list.js";
import { clear, debounce, h, pageHeader } from "../ui.js";

export const page = {
  route: "stock",
  permission: "stock:read",
  nav: {
    labelKey: "nav.stock",
    order: 30,
    bar: true,
    icon: { d: "M12 2 3 7v10l9 5 9-5V7zm0 2.3L18.7 8 12 11.7 5.3 8zM5 9.7l6 3.3v6.6l-6-3.3zm8 9.9V13l6-3.3v6.6z" },
  },
  // Warehouse staff land on the stock of their warehouses.
  home: (me) => me.roles.length > 0 && me.roles.every((r) => r === "warehouse"),
  render: stockPage,
};

const STOCK_PAGE_ROWS = 100;
// The largest page GET /api/v1/stock answers.
const STOCK_LIMIT_MAX = 1000;
// The search is kept across page switches and language changes.
const stockQuery = { prefix: "", warehouse: "" };

const columns = () => [
  { key: "sku", label: t("stock.sku"), cell: (r) => h("strong", { class: "sku" }, r.sku) },
  { key: "warehouse", label: t("stock.warehouse"), cell: (r) => r.warehouse },
  { key: "on_hand", label: t("stock.on_hand"), cls: "num qty", cell: (r) => formatNumber(r.on_hand) },
  { key: "updated", label: t("stock.updated"), cls: "muted", cell: (r) => formatTime(r.updated_at) },
];

const keyOf = (warehouse, sku) => warehouse + "\n" + sku;

export function stockPage(main) {
  const count = h("span", { class: "muted", id: "stock-count" });
  const prefix = h("input", { id: "stock-search", type: "search", placeholder: t("stock.search_placeholder"), value: stockQuery.prefix, autocomplete: "off", enterkeyhint: "search" });
  const warehouse = h("input", { id: "stock-warehouse", placeholder: t("stock.warehouse_placeholder"), value: stockQuery.warehouse, autocomplete: "off" });
  const form = h(
    "form",
    { class: "toolbar", role: "search" },
    h("label", { class: "grow" }, h("span", { class: "sr-only" }, t("stock.search")), prefix),
    h("label", {}, h("span", { class: "sr-only" }, t("stock.warehouse")), warehouse),
    h("button", { class: "btn btn-primary", type: "submit" }, t("stock.search")),
  );
  const list = pagedList({
    columns: columns(),
    key: (r) => keyOf(r.warehouse, r.sku),
    rowAttrs: (r) => ({ dataset: { warehouse: r.warehouse, sku: r.sku } }),
    pageRows: STOCK_PAGE_ROWS,
    limitMax: STOCK_LIMIT_MAX,
    async fetchPage(cursor, limit) {
      const p = new URLSearchParams({ limit: String(limit) });
      if (stockQuery.prefix) p.set("sku_prefix", stockQuery.prefix);
      if (stockQuery.warehouse) p.set("warehouse", stockQuery.warehouse);
      if (cursor) p.set("cursor", cursor);
      const page = await get("/api/v1/stock?" + p);
      return { items: page.items, next: page.next_cursor };
    },
    emptyText: () => (stockQuery.prefix || stockQuery.warehouse ? t("stock.no_match") : t("stock.empty")),
    tbodyId: "stock-rows",
    wrap: "card card-flush",
    moreId: "stock-more",
    moreLabel: t("stock.more"),
    count,
  });
  clear(main, pageHeader(t("nav.stock"), count), form, list.el);

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    stockQuery.prefix = prefix.value.trim();
    stockQuery.warehouse = warehouse.value.trim();
    list.load();
  });
  const typed = debounce(() => form.requestSubmit(), 400);
  prefix.addEventListener("input", typed);
  list.load();

  return {
    // Stock events carry the new quantities: patch the visible rows in place.
    onEvent(ev) {
      if (ev.kind !== "stock_changed") return;
      const now = new Date().toISOString();
      for (const c of ev.changes) list.update(keyOf(c.warehouse, c.sku), (r) => ({ ...r, on_hand: c.on_hand, updated_at: now }));
    },
    dispose() {
      list.dispose();
      // The next person to sign in on this page starts with an empty search.
      if (!session()) Object.assign(stockQuery, { prefix: "", warehouse: "" });
    },
  };
}
