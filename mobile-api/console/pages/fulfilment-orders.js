// 履约订单: orders in fulfilment by state and warehouse, oldest in their state first, cursor
// paged and kept current from events; a row opens the order's fulfilment (timeline, dispatch
// explanation, deliveries, actions). The board links here with `?state=…`, an order's detail
// with `?order=…`.
import { get, session } from "../api.js";
import { FULFILMENT_STATES, fulfilmentDrawer, holdList, isFulfilmentEvent, stateBadge, stateName } from "../fulfilment-detail.js";
import { formatMoney, formatTime, t } from "../i18n.js";
import { pagedList } from "../list.js";
import { NONE, atMostEvery, clear, h, pageHeader, platformName } from "../ui.js";

export const page = {
  route: "fulfilment-orders",
  permission: "orders:read",
  nav: {
    labelKey: "nav.fulfilment_orders",
    order: 23,
    bar: false,
    icon: { d: "M4 4h16v3H4zm0 5h10v3H4zm0 5h16v3H4zm0 5h10v2H4zm13-10h3v3h-3z" },
  },
  render: fulfilmentOrdersPage,
};

const PAGE_ROWS = 50;
// The largest page GET /api/v1/fulfilment/orders answers (FULFILMENTS_LIMIT_MAX).
const LIMIT_MAX = 500;
const REFRESH_MS = 1000;

// The filters, kept across page switches; a `?state=` in the route replaces them.
const NO_FILTER = { state: "", warehouse: "" };
const query = { ...NO_FILTER };

const columns = () => [
  {
    key: "order_no",
    label: t("orders.order_no"),
    cell: (o) => [h("strong", { class: "mono" }, o.order_no), h("div", { class: "muted small" }, o.shop_name || o.shop_id, " · ", platformName(o.platform))],
  },
  { key: "state", label: t("ful.state"), cell: (o) => [stateBadge(o.state), h("div", { class: "muted small" }, t("ful.since", { time: formatTime(o.since) }))] },
  { key: "holds", label: t("ful.holds"), cell: (o) => holdList(o.holds) || NONE },
  { key: "warehouses", label: t("ful.warehouses"), cell: (o) => (o.warehouses?.length ? o.warehouses.join(", ") : NONE) },
  { key: "paid", label: t("orders.paid"), cls: "num", cell: (o) => formatMoney(o.paid) },
];

// The route's own query (`#/fulfilment-orders?state=held&order=…`).
function routeQuery() {
  return new URLSearchParams(location.hash.split("?")[1] || "");
}

export function fulfilmentOrdersPage(main, ctx) {
  const asked = routeQuery();
  if (asked.has("state")) Object.assign(query, { state: asked.get("state") || "", warehouse: asked.get("warehouse") || "" });
  const count = h("span", { class: "muted", id: "ful-count" });
  const state = h(
    "select",
    { id: "ful-state" },
    [["", t("ful.all_states")], ...FULFILMENT_STATES.map((s) => [s, stateName(s)])].map(([v, label]) => h("option", { value: v, selected: v === query.state }, label)),
  );
  const warehouse = h("select", { id: "ful-warehouse" }, h("option", { value: "" }, t("ful.all_warehouses")));
  const form = h(
    "form",
    { class: "toolbar filters", role: "search", id: "ful-filters" },
    h("label", {}, h("span", { class: "sr-only" }, t("ful.state")), state),
    h("label", {}, h("span", { class: "sr-only" }, t("ful.warehouses")), warehouse),
  );
  let list = null;
  const drawer = fulfilmentDrawer(ctx.can("orders:write"), () => list.refresh());
  list = pagedList({
    columns: columns(),
    key: (o) => o.id,
    rowAttrs: (o) => ({
      class: "clickable",
      dataset: { order: o.id, state: o.state },
      tabindex: "0",
      onclick: () => drawer.open(o.id),
      onkeydown: (e) => {
        if (e.key === "Enter") drawer.open(o.id);
      },
    }),
    pageRows: PAGE_ROWS,
    limitMax: LIMIT_MAX,
    async fetchPage(cursor, limit) {
      const p = new URLSearchParams({ limit: String(limit) });
      if (query.state) p.set("state", query.state);
      if (query.warehouse) p.set("warehouse", query.warehouse);
      if (cursor) p.set("cursor", cursor);
      const page = await get("/api/v1/fulfilment/orders?" + p);
      return { items: page.orders, next: page.next_cursor };
    },
    emptyText: () => (query.state || query.warehouse ? t("ful.no_match") : t("ful.empty")),
    tbodyId: "ful-rows",
    wrap: "card card-flush",
    moreId: "ful-more",
    moreLabel: t("orders.more"),
    count,
  });
  clear(main, pageHeader(t("nav.fulfilment_orders"), count), form, list.el, drawer.el);

  // The warehouse filter offers the configured warehouses (shipments:read; hidden otherwise).
  if (ctx.can("shipments:read")) {
    get("/api/v1/warehouses")
      .then(({ warehouses }) => {
        for (const w of warehouses) warehouse.append(h("option", { value: w.code, selected: w.code === query.warehouse }, `${w.code} · ${w.name}`));
      })
      .catch(() => {
        warehouse.parentElement.hidden = true;
      });
  } else {
    warehouse.parentElement.hidden = true;
  }
  for (const el of [state, warehouse]) {
    el.addEventListener("change", () => {
      Object.assign(query, { state: state.value, warehouse: warehouse.value });
      // The route keeps the filter, so a reload or the back button shows the same list.
      history.replaceState(null, "", "#/fulfilment-orders" + (query.state ? "?state=" + query.state : ""));
      list.load();
    });
  }
  form.addEventListener("submit", (e) => e.preventDefault());
  list.load();
  if (asked.get("order")) drawer.open(asked.get("order"));
  const refresh = atMostEvery(REFRESH_MS, list.refresh);
  return {
    onEvent(ev) {
      if (!isFulfilmentEvent(ev)) return;
      refresh();
      drawer.onEvent(ev);
    },
    dispose() {
      list.dispose();
      drawer.close();
      if (!session()) Object.assign(query, NO_FILTER);
    },
  };
}
