// 履约看板: how many orders are in each fulfilment state, exceptions first, and the tracking
// write-backs failed and waiting; each count opens the orders in that state. Fetched again
// when orders or fulfilment change.
import { get } from "../api.js";
import { EXCEPTION_STATES, FULFILMENT_STATES, isFulfilmentEvent, stateName } from "../fulfilment-detail.js";
import { formatNumber, formatTime, t } from "../i18n.js";
import { atMostEvery, card, clear, errorState, h, loading, pageHeader } from "../ui.js";

export const page = {
  route: "fulfilment",
  permission: "orders:read",
  nav: {
    labelKey: "nav.fulfilment",
    order: 21,
    bar: false,
    icon: { d: "M3 4h18v4H3zm0 6h8v10H3zm10 0h8v4h-8zm0 6h8v4h-8z" },
  },
  render: boardPage,
};

// Fetch again at most this often while events arrive.
const RELOAD_MS = 1500;

function stat(state, count) {
  const exception = EXCEPTION_STATES.includes(state);
  const kind = exception && count > 0 ? " stat-error" : state === "held" && count > 0 ? " stat-warn" : "";
  return h(
    "a",
    { class: "stat" + kind, href: "#/fulfilment-orders?state=" + state, id: "board-" + state, dataset: { state, count: String(count) } },
    h("span", { class: "stat-label" }, stateName(state)),
    h("span", { class: "stat-value" }, formatNumber(count)),
  );
}

function render(board) {
  const counts = new Map((board.states || []).map((s) => [s.state, s.count]));
  const ordered = FULFILMENT_STATES.filter((s) => counts.has(s));
  const exceptions = ordered.filter((s) => EXCEPTION_STATES.includes(s));
  const rest = ordered.filter((s) => !EXCEPTION_STATES.includes(s));
  const failed = board.writeback_failed || 0;
  return [
    card(t("board.exceptions"), h("div", { class: "stats", id: "board-exceptions" }, exceptions.map((s) => stat(s, counts.get(s))))),
    card(t("board.flow"), h("div", { class: "stats", id: "board-flow" }, rest.map((s) => stat(s, counts.get(s))))),
    card(
      t("board.writeback"),
      h(
        "div",
        { class: "stats", id: "board-writeback" },
        h("div", { class: "stat" + (failed > 0 ? " stat-error" : ""), id: "board-writeback-failed" }, h("span", { class: "stat-label" }, t("board.writeback_failed")), h("span", { class: "stat-value" }, formatNumber(failed))),
        h(
          "div",
          { class: "stat", id: "board-writeback-pending" },
          h("span", { class: "stat-label" }, t("board.writeback_pending")),
          h("span", { class: "stat-value" }, formatNumber(board.writeback_pending || 0)),
        ),
      ),
    ),
  ];
}

export function boardPage(main) {
  const updated = h("span", { class: "muted", id: "board-updated" });
  const body = h("div", { class: "page-body", id: "board" }, loading());
  clear(main, pageHeader(t("nav.fulfilment"), updated, h("a", { class: "btn btn-small", href: "#/review" }, t("nav.review"))), body);
  let alive = true;
  async function load() {
    try {
      const board = await get("/api/v1/fulfilment/board");
      if (!alive) return;
      clear(body, render(board));
      updated.textContent = t("common.updated", { time: formatTime(new Date().toISOString()) });
    } catch (e) {
      if (alive) clear(body, errorState(e, load));
    }
  }
  load();
  const reload = atMostEvery(RELOAD_MS, load);
  return {
    onEvent(ev) {
      if (isFulfilmentEvent(ev)) reload();
    },
    dispose() {
      alive = false;
    },
  };
}
