// The pages everyone may see (dashboard, stock) and the agents page. Each page function renders
// into main and returns { onEvent(event), dispose() }.
import { call, get, session } from "./api.js";
import { areaChart, barChart } from "./charts.js";
import { lagText, lastPollText, stateDot } from "./shops.js";
import { formatAgo, formatDuration, formatNumber, formatTime, t } from "./i18n.js";
import {
  badge,
  card,
  clear,
  confirmButton,
  copyable,
  debounce,
  empty,
  errorState,
  foldable,
  h,
  loading,
  pageHeader,
  roleName,
  toast,
  describeError,
  platformName,
  NONE,
} from "./ui.js";

// Re-fetch at most this often when events arrive.
const RELOAD_DEBOUNCE_MS = 1500;

function stat(label, value, kind) {
  return h("div", { class: "stat" + (kind ? " stat-" + kind : "") }, h("span", { class: "stat-label" }, label), h("span", { class: "stat-value" }, value));
}

function table(headers, rows, cls) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "table " + (cls || "") },
      h("thead", {}, h("tr", {}, headers.map(([text, c]) => h("th", { class: c }, text)))),
      h("tbody", {}, rows),
    ),
  );
}

// ---------------------------------------------------------------- dashboard

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
        card(
          t("dash.changes_chart"),
          points.length ? areaChart(points, t("dash.changes_chart")) : empty(t("dash.no_changes")),
        ),
        card(
          t("dash.stock_chart"),
          warehouses.length ? barChart(warehouses, t("dash.stock_chart")) : empty(t("stock.empty")),
          warehouses.length
            ? h(
                "ul",
                { class: "legend" },
                warehouses.map((w) =>
                  h("li", {}, h("strong", {}, w.warehouse), " ", t("dash.skus", { n: formatNumber(w.skus) }), " · ", formatAgo(w.updated_at)),
                ),
              )
            : null,
        ),
      ),
      d.shops ? shopsHealth(d.shops) : null,
      card(
        t("dash.sources"),
        sources.length
          ? table(
              [
                [t("agents.source")],
                [t("agents.status")],
                [t("dash.lag")],
                [t("agents.backlog"), "num hide-phone"],
                [t("agents.applied"), "num hide-phone"],
                [t("agents.quarantined"), "num hide-phone"],
                [t("dash.last_applied"), "hide-phone"],
              ],
              sources.map((s) =>
                h(
                  "tr",
                  {},
                  h("td", {}, h("strong", {}, s.source), h("div", { class: "muted small" }, `${s.agent} · ${s.site}`), s.last_error ? h("div", { class: "text-error small" }, s.last_error) : null),
                  h("td", {}, s.connected ? badge(t("agents.online"), "ok") : badge(t("agents.offline"), "warn")),
                  h(
                    "td",
                    { class: "nowrap" },
                    formatDuration(s.lag_secs),
                    h("div", { class: "small muted show-phone" }, t("dash.backlog"), " ", formatNumber(s.backlog)),
                  ),
                  h("td", { class: "num hide-phone" }, formatNumber(s.backlog)),
                  h("td", { class: "num hide-phone" }, formatNumber(s.records_applied)),
                  h("td", { class: "num hide-phone" }, formatNumber(s.quarantined)),
                  h("td", { class: "hide-phone" }, formatAgo(s.last_applied_at)),
                ),
              ),
            )
          : empty(t("dash.no_sources")),
      ),
    );
  }

  load();
  const reload = debounce(load, RELOAD_DEBOUNCE_MS);
  return {
    onEvent: () => reload(),
    dispose: () => {
      alive = false;
    },
  };
}

// One row per shop: how its order capture is doing (`shops` of /api/v1/dashboard).
function shopsHealth(shops) {
  return card(
    t("dash.shops"),
    shops.length
      ? table(
          [
            [t("orders.platform"), "hide-phone"],
            [t("shops.name")],
            [t("agents.status")],
            [t("shops.last_poll"), "hide-phone"],
            [t("shops.lag")],
            [t("shops.errors"), "num"],
          ],
          shops.map((s) => {
            const hl = s.health || {};
            return h(
              "tr",
              { dataset: { shop: s.id } },
              h("td", { class: "hide-phone" }, platformName(s.platform)),
              h(
                "td",
                {},
                h("strong", {}, s.name),
                h("div", { class: "muted small show-phone" }, platformName(s.platform)),
                hl.last_error ? h("div", { class: "text-error small" }, hl.last_error) : null,
                s.held ? h("div", { class: "small text-warn" }, t("dash.held_orders", { n: formatNumber(s.held) })) : null,
              ),
              h("td", {}, stateDot(s)),
              h("td", { class: "hide-phone" }, lastPollText(hl.last_poll_ok_at)),
              h("td", { class: "nowrap" }, lagText(hl.capture_lag_ms)),
              h("td", { class: "num" }, hl.error_count === null || hl.error_count === undefined ? NONE : formatNumber(hl.error_count)),
            );
          }),
          "shops-health",
        )
      : empty(t("dash.no_shops")),
  );
}

// ---------------------------------------------------------------- stock

const STOCK_PAGE_ROWS = 100;
// The search is kept across page switches and language changes.
const stockQuery = { prefix: "", warehouse: "" };

export function stockPage(main) {
  const rowsByKey = new Map();
  const tbody = h("tbody", { id: "stock-rows" });
  const body = h("div", { class: "page-body" });
  const more = h("button", { class: "btn", type: "button", id: "stock-more", hidden: true }, t("stock.more"));
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
  clear(main, pageHeader(t("nav.stock"), count), form, body);
  let next = null;
  let generation = 0;
  let shown = 0;

  function query(cursor) {
    const p = new URLSearchParams({ limit: String(STOCK_PAGE_ROWS) });
    if (stockQuery.prefix) p.set("sku_prefix", stockQuery.prefix);
    if (stockQuery.warehouse) p.set("warehouse", stockQuery.warehouse);
    if (cursor) p.set("cursor", cursor);
    return "/api/v1/stock?" + p;
  }

  function row(r) {
    const qty = h("td", { class: "num qty" }, formatNumber(r.on_hand));
    const when = h("td", { class: "hide-phone muted" }, formatTime(r.updated_at));
    const tr = h(
      "tr",
      { dataset: { warehouse: r.warehouse, sku: r.sku } },
      h("td", {}, h("strong", { class: "sku" }, r.sku)),
      h("td", {}, r.warehouse),
      qty,
      when,
    );
    rowsByKey.set(r.warehouse + "\n" + r.sku, { tr, qty, when });
    return tr;
  }

  async function load(cursor) {
    const mine = ++generation;
    if (!cursor) {
      rowsByKey.clear();
      shown = 0;
      clear(body, loading());
    }
    more.disabled = true;
    try {
      const page = await get(query(cursor));
      if (mine !== generation) return;
      if (!cursor) {
        tbody.replaceChildren();
        if (!page.items.length) {
          clear(body, empty(stockQuery.prefix || stockQuery.warehouse ? t("stock.no_match") : t("stock.empty")));
          count.textContent = "";
          return;
        }
        clear(
          body,
          h(
            "div",
            { class: "table-wrap card card-flush" },
            h(
              "table",
              { class: "table" },
              h(
                "thead",
                {},
                h("tr", {}, h("th", {}, t("stock.sku")), h("th", {}, t("stock.warehouse")), h("th", { class: "num" }, t("stock.on_hand")), h("th", { class: "hide-phone" }, t("stock.updated"))),
              ),
              tbody,
            ),
          ),
          h("div", { class: "more" }, more),
        );
      }
      tbody.append(...page.items.map(row));
      shown += page.items.length;
      next = page.next_cursor;
      more.hidden = !next;
      const n = formatNumber(shown);
      count.textContent = next ? t("stock.count_more", { n }) : t("stock.count", { n });
    } catch (e) {
      if (mine !== generation) return;
      if (cursor) toast(describeError(e), "error");
      else clear(body, errorState(e, () => load()));
    } finally {
      more.disabled = false;
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    stockQuery.prefix = prefix.value.trim();
    stockQuery.warehouse = warehouse.value.trim();
    load();
  });
  const typed = debounce(() => form.requestSubmit(), 400);
  prefix.addEventListener("input", typed);
  more.addEventListener("click", () => load(next));
  load();

  return {
    // Stock events carry the new quantities: patch the visible rows in place.
    onEvent(ev) {
      if (ev.kind !== "stock_changed") return;
      for (const c of ev.changes) {
        const shownRow = rowsByKey.get(c.warehouse + "\n" + c.sku);
        if (!shownRow) continue;
        shownRow.qty.textContent = formatNumber(c.on_hand);
        shownRow.when.textContent = formatTime(new Date().toISOString());
        shownRow.tr.classList.remove("flash");
        void shownRow.tr.offsetWidth; // restart the highlight animation
        shownRow.tr.classList.add("flash");
      }
    },
    dispose() {
      generation++;
      // The next person to sign in on this page starts with an empty search.
      if (!session()) Object.assign(stockQuery, { prefix: "", warehouse: "" });
    },
  };
}

// ---------------------------------------------------------------- agents

// The last token made, kept so a language switch does not lose it before it is copied.
let lastToken = null;
const ttlChoices = () => [
  [3600, t("agents.ttl_1h")],
  [86400, t("agents.ttl_24h")],
  [7 * 86400, t("agents.ttl_7d")],
];

// The command IT runs on the agent machine (see deploy/INSTALL.md): the hub says where agents
// dial it (`serve --agent-address`), else this page's host on the hub's QUIC port.
function enrollCommand(token) {
  const hub = token.agent_address || `${location.hostname}:${token.quic_port}`;
  return `xt-agent enroll --hub ${hub} --token ${token.token} --ca-fingerprint ${token.ca_fingerprint} --data /var/lib/xt-agent`;
}

function tokenResult(token) {
  return h(
    "div",
    { class: "token-result", id: "token-result" },
    h("p", { class: "alert alert-ok" }, t("agents.token_created", { site: token.site, time: formatTime(token.expires_at) })),
    h("p", { class: "muted small" }, t("agents.command_hint")),
    copyable(enrollCommand(token), "enroll-command"),
  );
}

function enrollCard(onCreated) {
  const site = h("input", { id: "enroll-site", required: true, placeholder: t("agents.site_placeholder"), autocomplete: "off" });
  const role = h(
    "select",
    { id: "enroll-role" },
    ["warehouse", "finance", "pos"].map((r) => h("option", { value: r }, roleName(r))),
  );
  const ttl = h(
    "select",
    { id: "enroll-ttl" },
    ttlChoices().map(([secs, label]) => h("option", { value: String(secs), selected: secs === 86400 }, label)),
  );
  const error = h("p", { class: "alert alert-error", role: "alert", hidden: true });
  const result = h("div", {}, lastToken ? tokenResult(lastToken) : null);
  const submit = h("button", { class: "btn btn-primary", type: "submit", id: "enroll-submit" }, t("agents.create_token"));
  const form = h(
    "form",
    { class: "form-grid", id: "enroll-form" },
    h("label", {}, h("span", {}, t("agents.site")), site),
    h("label", {}, h("span", {}, t("agents.role")), role),
    h("label", {}, h("span", {}, t("agents.ttl")), ttl),
    h("div", { class: "form-actions" }, submit),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    if (!site.value.trim()) {
      error.textContent = t("agents.site_required");
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    try {
      lastToken = await call("POST", "/api/v1/enrollment-tokens", {
        site: site.value.trim(),
        role: role.value,
        ttl_secs: Number(ttl.value),
      });
      clear(result, tokenResult(lastToken));
      onCreated();
    } catch (err) {
      error.textContent = describeError(err);
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  // Folded by default, so the agents' state comes first on a phone; open while a token is shown.
  return foldable("enroll-toggle", t("agents.enroll"), !!lastToken, h("p", { class: "muted" }, t("agents.enroll_help")), form, error, result);
}

function agentCard(a, reload) {
  const status = a.revoked_at
    ? badge(t("agents.revoked"), "muted")
    : a.connected
      ? badge(t("agents.online"), "ok")
      : badge(t("agents.offline"), "warn");
  const state = a.revoked_at ? "revoked" : a.connected ? "online" : "offline";
  return h(
    "section",
    { class: "card agent", dataset: { agent: a.id, status: state } },
    h(
      "div",
      { class: "agent-head" },
      h("div", {}, h("h2", { class: "card-title" }, a.id), h("div", { class: "muted small" }, `${a.site} · ${roleName(a.role)}`)),
      status,
    ),
    h(
      "dl",
      { class: "facts" },
      h("div", {}, h("dt", {}, t("agents.last_seen")), h("dd", {}, formatAgo(a.last_seen))),
      h("div", {}, h("dt", {}, t("agents.enrolled")), h("dd", {}, formatTime(a.enrolled_at))),
      h("div", {}, h("dt", {}, t("agents.cert_expires")), h("dd", {}, formatTime(a.cert_expires_at))),
    ),
    a.sources.length
      ? table(
          [
            [t("agents.source")],
            [t("agents.applied"), "num"],
            [t("agents.backlog"), "num"],
            [t("agents.quarantined"), "num hide-phone"],
            [t("agents.rejected"), "num hide-phone"],
          ],
          a.sources.map((s) =>
            h(
              "tr",
              {},
              h("td", {}, s.source, s.last_error ? h("div", { class: "text-error small" }, s.last_error) : null),
              h("td", { class: "num" }, formatNumber(s.records_applied)),
              h("td", { class: "num" }, formatNumber(s.backlog)),
              h("td", { class: "num hide-phone" }, formatNumber(s.records_quarantined)),
              h("td", { class: "num hide-phone" }, formatNumber(s.records_rejected)),
            ),
          ),
          "compact",
        )
      : h("p", { class: "muted small" }, t("agents.no_sources")),
    a.revoked_at
      ? h("p", { class: "muted small" }, t("agents.revoked_at", { time: formatTime(a.revoked_at) }))
      : h(
          "div",
          { class: "card-actions" },
          confirmButton(t("agents.revoke"), t("agents.revoke_confirm"), async () => {
            try {
              await call("POST", `/api/v1/agents/${encodeURIComponent(a.id)}/revoke`);
              toast(t("agents.revoked_toast", { id: a.id }), "ok");
              reload();
            } catch (e) {
              toast(describeError(e), "error");
            }
          }),
        ),
  );
}

export function agentsPage(main) {
  const list = h("div", { class: "page-body", id: "agents-list" }, loading());
  let alive = true;
  async function load() {
    try {
      const { agents } = await get("/api/v1/agents");
      if (!alive) return;
      agents.sort((a, b) => Number(!!a.revoked_at) - Number(!!b.revoked_at) || a.id.localeCompare(b.id));
      clear(list, agents.length ? h("div", { class: "agent-grid" }, agents.map((a) => agentCard(a, load))) : empty(t("agents.empty")));
    } catch (e) {
      if (alive) clear(list, errorState(e, load));
    }
  }
  clear(main, pageHeader(t("nav.agents")), enrollCard(load), list);
  load();
  const reload = debounce(load, RELOAD_DEBOUNCE_MS);
  return {
    onEvent: () => reload(),
    dispose: () => {
      alive = false;
      // Kept over a language switch (same page), forgotten on leaving the page or signing out.
      if (!session() || location.hash !== "#/agents") lastToken = null;
    },
  };
}
