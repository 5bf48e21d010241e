// 审核队列: orders held for review with their reasons, oldest first, and those the rules are
// still reviewing; approve, release or hold each in place (orders:write), or open its
// fulfilment. Kept current from events.
import { get, session } from "../api.js";
import { act, actionName, fulfilmentDrawer, holdList, isFulfilmentEvent, reasonForm } from "../fulfilment-detail.js";
import { formatMoney, formatTime, t } from "../i18n.js";
import { pagedList } from "../list.js";
import { NONE, atMostEvery, clear, h, pageHeader, platformName } from "../ui.js";

export const page = {
  route: "review",
  permission: "orders:read",
  nav: {
    labelKey: "nav.review",
    order: 22,
    bar: false,
    icon: { d: "M9 3h6l1 2h3v16H5V5h3zm1 2v2h4V5zm-.7 8.3L8 14.6l3 3 5-5-1.3-1.4-3.7 3.6z" },
  },
  render: reviewPage,
};

const PAGE_ROWS = 50;
const LIMIT_MAX = 500;
const REFRESH_MS = 1000;
// Which queue is shown, kept across page switches: `held` (people decide) or `review` (the
// rules, or the merge buffer).
const queue = { state: "held" };

function rowActions(o, after) {
  const cell = h("div", { class: "row-actions" });
  const run = async (body) => {
    const next = await act(o.id, body);
    if (next) after();
  };
  const button = (action, cls, onclick) =>
    h(
      "button",
      {
        class: "btn btn-small " + cls,
        type: "button",
        dataset: { action },
        onclick: (e) => {
          e.stopPropagation();
          onclick();
        },
      },
      actionName(action),
    );
  const buttons = () => {
    const list = [button("approve", "btn-primary", () => run({ action: "approve" }))];
    if (o.state === "held") list.push(button("release", "", () => run({ action: "release" })));
    else list.push(button("hold", "", () => clear(cell, reasonForm("review-hold-" + o.id, t("ful.hold_reason"), actionName("hold"), (reason) => run({ action: "hold", reason }), () => clear(cell, buttons())))));
    return list;
  };
  return clear(cell, buttons());
}

export function reviewPage(main, ctx) {
  const write = ctx.can("orders:write");
  const count = h("span", { class: "muted", id: "review-count" });
  const which = h(
    "select",
    { id: "review-state" },
    [
      ["held", t("review.held")],
      ["review", t("review.reviewing")],
    ].map(([v, label]) => h("option", { value: v, selected: v === queue.state }, label)),
  );
  let list = null;
  const drawer = fulfilmentDrawer(write, () => list.refresh());
  const columns = [
    {
      key: "order_no",
      label: t("orders.order_no"),
      cell: (o) => [h("strong", { class: "mono" }, o.order_no), h("div", { class: "muted small" }, o.shop_name || o.shop_id, " · ", platformName(o.platform))],
    },
    { key: "holds", label: t("ful.holds"), cell: (o) => holdList(o.holds) || NONE },
    { key: "since", label: t("review.waiting_since"), cls: "nowrap small", cell: (o) => formatTime(o.since) },
    { key: "paid", label: t("orders.paid"), cls: "num", cell: (o) => [formatMoney(o.paid), o.receiver_name ? h("div", { class: "muted small" }, o.receiver_name) : null] },
    write ? { key: "actions", label: "", cls: "actions", cell: (o) => rowActions(o, () => list.refresh()) } : null,
  ].filter(Boolean);
  list = pagedList({
    columns,
    key: (o) => o.id,
    rowAttrs: (o) => ({
      class: "clickable",
      dataset: { order: o.id, state: o.state },
      tabindex: "0",
      onclick: () => drawer.open(o.id),
      onkeydown: (e) => {
        if (e.key === "Enter" && e.target === e.currentTarget) drawer.open(o.id);
      },
    }),
    pageRows: PAGE_ROWS,
    limitMax: LIMIT_MAX,
    async fetchPage(cursor, limit) {
      const p = new URLSearchParams({ state: queue.state, limit: String(limit) });
      if (cursor) p.set("cursor", cursor);
      const page = await get("/api/v1/fulfilment/orders?" + p);
      return { items: page.orders, next: page.next_cursor };
    },
    emptyText: () => (queue.state === "held" ? t("review.empty_held") : t("review.empty_reviewing")),
    tbodyId: "review-rows",
    wrap: "card card-flush",
    moreId: "review-more",
    moreLabel: t("orders.more"),
    count,
  });
  const toolbar = h("div", { class: "toolbar" }, h("label", {}, h("span", { class: "sr-only" }, t("review.queue")), which));
  clear(main, pageHeader(t("nav.review"), count), h("p", { class: "muted" }, t("review.help")), toolbar, list.el, drawer.el);
  which.addEventListener("change", () => {
    queue.state = which.value;
    list.load();
  });
  list.load();
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
      if (!session()) queue.state = "held";
    },
  };
}
