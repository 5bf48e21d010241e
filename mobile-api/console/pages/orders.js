// 订单: captured platform orders with filters and cursor paging, kept current from
// `orders_changed` events; a row opens the order's detail (order-detail.js).
import { get, session } from "../api.js";
import { formatMoney, formatNumber, formatTime, t } from "../i18n.js";
import { pagedList } from "../list.js";
import { orderDrawer, statusBadge } from "../order-detail.js";
import { NONE, ORDER_STATUSES, PLATFORMS, atMostEvery, badge, clear, h, orderStatusName, pageHeader, platformName } from "../ui.js";

export const page = {
  route: "orders",
  permission: "orders:read",
  nav: {
    labelKey: "nav.orders",
    order: 20,
    bar: true,
    icon: { d: "M5 2h14v20l-2.33-1.5L14.33 22 12 20.5 9.67 22l-2.34-1.5L5 22zm3 5v2h8V7zm0 4v2h8v-2zm0 4v2h5v-2z", evenodd: true },
  },
  render: ordersPage,
};

const ORDER_PAGE_ROWS = 50;
// The largest page GET /api/v1/orders answers (ORDERS_LIMIT_MAX).
const ORDERS_LIMIT_MAX = 500;
// Live updates fetch the list again at most this often.
const REFRESH_MS = 1000;

// The filters are kept across page switches, language changes and reloads after a `reset`.
const NO_FILTER = { shop: "", platform: "", status: "", order_no: "", receiver: "", held: false };
const orderQuery = { ...NO_FILTER };

function select(id, options, value) {
  return h(
    "select",
    { id },
    options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)),
  );
}

const columns = () => [
  {
    key: "order_no",
    label: t("orders.order_no"),
    cell: (o) => [h("strong", { class: "mono" }, o.order_no), h("div", { class: "muted small" }, o.shop_name || o.shop_id, " · ", platformName(o.platform))],
  },
  { key: "status", label: t("orders.status"), cell: (o) => [statusBadge(o.status), o.held ? h("div", {}, badge(t("orders.held"), "error")) : null] },
  {
    key: "receiver",
    label: t("orders.receiver"),
    cell: (o) => [o.receiver_name || NONE, o.receiver_masked ? h("span", { class: "muted small" }, " ", t("orders.masked")) : null],
  },
  { key: "paid", label: t("orders.paid"), cls: "num", cell: (o) => [formatMoney(o.paid), h("div", { class: "muted small" }, t("orders.lines_n", { n: formatNumber(o.lines) }))] },
  { key: "modified", label: t("orders.modified"), cls: "muted nowrap", cell: (o) => formatTime(o.modified_at) },
];

export function ordersPage(main, ctx) {
  const count = h("span", { class: "muted", id: "orders-count" });
  const shop = select("orders-shop", [["", t("orders.all_shops")]], orderQuery.shop);
  const platform = select("orders-platform", [["", t("orders.all_platforms")], ...PLATFORMS.map((p) => [p, platformName(p)])], orderQuery.platform);
  const status = select("orders-status", [["", t("orders.all_statuses")], ...ORDER_STATUSES.map((s) => [s, orderStatusName(s)])], orderQuery.status);
  const orderNo = h("input", { id: "orders-no", type: "search", placeholder: t("orders.order_no"), value: orderQuery.order_no, autocomplete: "off", enterkeyhint: "search" });
  const receiver = h("input", { id: "orders-receiver", type: "search", placeholder: t("orders.receiver"), value: orderQuery.receiver, autocomplete: "off" });
  const held = h("input", { id: "orders-held", type: "checkbox", checked: orderQuery.held });
  const form = h(
    "form",
    { class: "toolbar filters", role: "search", id: "orders-filters" },
    h("label", {}, h("span", { class: "sr-only" }, t("orders.shop")), shop),
    h("label", {}, h("span", { class: "sr-only" }, t("orders.platform")), platform),
    h("label", {}, h("span", { class: "sr-only" }, t("orders.status")), status),
    h("label", {}, h("span", { class: "sr-only" }, t("orders.order_no")), orderNo),
    h("label", {}, h("span", { class: "sr-only" }, t("orders.receiver")), receiver),
    h("label", { class: "check" }, held, h("span", {}, t("orders.held_only"))),
    h("button", { class: "btn btn-primary", type: "submit" }, t("stock.search")),
  );
  const drawer = orderDrawer(ctx.can("orders:write"));
  const open = (o) => drawer.open(o.id);
  const list = pagedList({
    columns: columns(),
    key: (o) => o.id,
    rowAttrs: (o) => ({
      class: "clickable",
      dataset: { order: o.id, status: o.status },
      tabindex: "0",
      onclick: () => open(o),
      onkeydown: (e) => {
        if (e.key === "Enter") open(o);
      },
    }),
    pageRows: ORDER_PAGE_ROWS,
    limitMax: ORDERS_LIMIT_MAX,
    async fetchPage(cursor, limit) {
      const p = new URLSearchParams({ limit: String(limit) });
      for (const k of ["shop", "platform", "status", "order_no", "receiver"]) if (orderQuery[k]) p.set(k, orderQuery[k]);
      if (orderQuery.held) p.set("held", "true");
      if (cursor) p.set("cursor", cursor);
      const page = await get("/api/v1/orders?" + p);
      return { items: page.orders, next: page.next_cursor };
    },
    emptyText: () => (Object.values(orderQuery).some(Boolean) ? t("orders.no_match") : t("orders.empty")),
    tbodyId: "order-rows",
    wrap: "card card-flush",
    moreId: "orders-more",
    moreLabel: t("orders.more"),
    count,
  });
  clear(main, pageHeader(t("nav.orders"), count), form, list.el, drawer.el);

  // The shop filter lists the shops the user may see (shops:read; others get none).
  if (ctx.can("shops:read")) {
    get("/api/v1/shops")
      .then(({ shops }) => {
        for (const s of shops) shop.append(h("option", { value: s.id, selected: s.id === orderQuery.shop }, `${s.name} · ${platformName(s.platform)}`));
      })
      .catch(() => {
        shop.parentElement.hidden = true;
      });
  } else {
    shop.parentElement.hidden = true;
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    Object.assign(orderQuery, {
      shop: shop.value,
      platform: platform.value,
      status: status.value,
      order_no: orderNo.value.trim(),
      receiver: receiver.value.trim(),
      held: held.checked,
    });
    list.load();
  });
  for (const el of [shop, platform, status, held]) el.addEventListener("change", () => form.requestSubmit());
  list.load();
  const refresh = atMostEvery(REFRESH_MS, list.refresh);

  return {
    // {kind: "orders_changed", shop, orders: [id…], total, truncated}: the list is fetched
    // again (same filters, rows updated in place, new ones on top) and the open order too
    // when it is among them.
    onEvent(ev) {
      if (ev.kind !== "orders_changed") return;
      if (!orderQuery.shop || orderQuery.shop === ev.shop) refresh();
      drawer.onOrdersChanged(ev);
    },
    dispose() {
      list.dispose();
      drawer.close();
      if (!session()) Object.assign(orderQuery, NO_FILTER);
    },
  };
}

