// 概览: agents and sync lag, stock per warehouse, changes per minute, shops' capture health.
import { get } from "../api.js";
import { areaChart, barChart } from "../charts.js";
import { formatAgo, formatDuration, formatNumber, formatTime, t } from "../i18n.js";
import { table } from "../list.js";
import { lagText, lastPollText, stateDot } from "../shop-health.js";
import { NONE, atMostEvery, badge, card, clear, empty, errorState, h, loading, pageHeader, platformName } from "../ui.js";

export const page = {
  route: "dashboard",
  permission: "dashboard:read",
  nav: { labelKey: "nav.dashboard", order: 10, bar: true, icon: { d: "M4 13h6V4H4zm0 7h6v-5H4zm10 0h6v-9h-6zm0-16v5h6V4z" } },
  render: dashboardPage,
};

// Re-fetch at most this often while events arrive.
const RELOAD_MS = 1500;

function stat(label, value, kind) {
  return h("div", { class: "stat" + (kind ? " stat-" + kind : "") }, h("span", { class: "stat-label" }, label), h("span", { class: "stat-value" }, value));
}

const sourceColumns = () => [
  {
    key: "source",
    label: t("agents.source"),
    cell: (s) => [h("strong", {}, s.source), h("div", { class: "muted small" }, `${s.agent} · ${s.site}`), s.last_error ? h("div", { class: "text-error small" }, s.last_error) : null],
  },
  { key: "status", label: t("agents.status"), cell: (s) => (s.connected ? badge(t("agents.online"), "ok") : badge(t("agents.offline"), "warn")) },
  { key: "lag", label: t("dash.lag"), cls: "nowrap", cell: (s) => formatDuration(s.lag_secs) },
  { key: "backlog", label: t("agents.backlog"), cls: "num", cell: (s) => formatNumber(s.backlog) },
  { key: "applied", label: t("agents.applied"), cls: "num", cell: (s) => formatNumber(s.records_applied) },
  { key: "quarantined", label: t("agents.quarantined"), cls: "num", cell: (s) => formatNumber(s.quarantined) },
  { key: "last_applied", label: t("dash.last_applied"), cell: (s) => formatAgo(s.last_applied_at) },
];

const shopColumns = () => [
  { key: "platform", label: t("orders.platform"), cell: (s) => platformName(s.platform) },
  {
    key: "name",
    label: t("shops.name"),
    cell: (s) => [
      h("strong", {}, s.name),
      s.health?.last_error ? h("div", { class: "text-error small" }, s.health.last_error) : null,
      s.held ? h("div", { class: "small text-warn" }, t("dash.held_orders", { n: formatNumber(s.held) })) : null,
    ],
  },
  { key: "state", label: t("agents.status"), cell: (s) => stateDot(s) },
  { key: "last_poll", label: t("shops.last_poll"), cell: (s) => lastPollText(s.health?.last_poll_ok_at) },
  { key: "lag", label: t("shops.lag"), cls: "nowrap", cell: (s) => lagText(s.health?.capture_lag_ms) },
  { key: "errors", label: t("shops.errors"), cls: "num", cell: (s) => (s.health?.error_count === null || s.health?.error_count === undefined ? NONE : formatNumber(s.health.error_count)) },
];

export function dashboardPage(main) {
  const updated = h("span", { class: "muted" });
  const body = h("div", { class: "page-body" }, loading());
  clear(main, pageHeader(t("nav.dashboard"), updated), body);
  let alive = true;

  async function load() {
    try {
      const d = await get("/api/v1/dashboard?minutes=60");
      if (alive) render(d);
    } catch (e) {
      if (alive) clear(body, errorState(e, load));
    }
  }

  function render(d) {
    updated.textContent = t("common.updated", { time: formatTime(d.generated_at) });
    const sources = d.sources || [];
    const maxLag = sources.reduce((m, s) => Math.max(m, s.lag_secs ?? 0), 0);
    const backlog = sources.reduce((m, s) => m + (s.backlog ?? 0), 0);
    const warehouses = d.warehouses || [];
    const points = d.series?.points || [];
    clear(
      body,
      h(
        "div",
        { class: "stats" },
        stat(t("dash.agents_online"), formatNumber(d.agents.online), d.agents.online ? "ok" : "warn"),
        stat(t("dash.agents_offline"), formatNumber(d.agents.offline), d.agents.offline ? "warn" : null),
        stat(t("dash.sync_lag"), formatDuration(maxLag), maxLag > 300 ? "warn" : null),
        stat(t("dash.backlog"), formatNumber(backlog), backlog > 10000 ? "warn" : null),
        stat(t("dash.quarantined"), formatNumber(d.quarantined_total), d.quarantined_total ? "warn" : null),
        stat(t("dash.on_hand_total"), formatNumber(warehouses.reduce((sum, w) => sum + w.on_hand, 0))),
      ),
      h(
        "div",
        { class: "grid-2" },
        card(t("dash.changes_chart"), points.length ? areaChart(points, t("dash.changes_chart")) : empty(t("dash.no_changes"))),
        card(
          t("dash.stock_chart"),
          warehouses.length ? barChart(warehouses, t("dash.stock_chart")) : empty(t("stock.empty")),
          warehouses.length
            ? h(
                "ul",
                { class: "legend" },
                warehouses.map((w) => h("li", {}, h("strong", {}, w.warehouse), " ", t("dash.skus", { n: formatNumber(w.skus) }), " · ", formatAgo(w.updated_at))),
              )
            : null,
        ),
      ),
      d.shops
        ? card(
            t("dash.shops"),
            d.shops.length ? table(shopColumns(), d.shops, { cls: "shops-health", rowAttrs: (s) => ({ dataset: { shop: s.id } }) }) : empty(t("dash.no_shops")),
          )
        : null,
      card(t("dash.sources"), sources.length ? table(sourceColumns(), sources) : empty(t("dash.no_sources"))),
    );
  }

  load();
  const reload = atMostEvery(RELOAD_MS, load);
  return {
    onEvent: () => reload(),
    dispose: () => {
      alive = false;
    },
  };
}
