// 代理: the tenant's agents with their sources' sync counters, enrollment tokens with a
// ready-to-copy command (agents:write), and revoking an agent.
import { call, get, session } from "../api.js";
import { formatAgo, formatNumber, formatTime, t } from "../i18n.js";
import { table } from "../list.js";
import { atMostEvery, badge, clear, confirmButton, copyable, describeError, empty, errorState, foldable, h, loading, pageHeader, roleName, toast } from "../ui.js";

export const page = {
  route: "agents",
  permission: "agents:read",
  nav: { labelKey: "nav.agents", order: 60, bar: false, icon: { d: "M4 5h16v10H4zm2 2v6h12V7zM8 17h8v2H8z" } },
  render: agentsPage,
};

// Re-fetch at most this often while events arrive.
const RELOAD_MS = 1500;

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

const sourceColumns = () => [
  { key: "source", label: t("agents.source"), cell: (s) => [s.source, s.last_error ? h("div", { class: "text-error small" }, s.last_error) : null] },
  { key: "applied", label: t("agents.applied"), cls: "num", cell: (s) => formatNumber(s.records_applied) },
  { key: "backlog", label: t("agents.backlog"), cls: "num", cell: (s) => formatNumber(s.backlog) },
  { key: "quarantined", label: t("agents.quarantined"), cls: "num", cell: (s) => formatNumber(s.records_quarantined) },
  { key: "rejected", label: t("agents.rejected"), cls: "num", cell: (s) => formatNumber(s.records_rejected) },
];

function agentCard(a, write, reload) {
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
      ? table(sourceColumns(), a.sources, { cls: "compact" })
      : h("p", { class: "muted small" }, t("agents.no_sources")),
    a.revoked_at
      ? h("p", { class: "muted small" }, t("agents.revoked_at", { time: formatTime(a.revoked_at) }))
      : !write
        ? null
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

export function agentsPage(main, ctx) {
  const write = ctx.can("agents:write");
  const list = h("div", { class: "page-body", id: "agents-list" }, loading());
  let alive = true;
  async function load() {
    try {
      const { agents } = await get("/api/v1/agents");
      if (!alive) return;
      agents.sort((a, b) => Number(!!a.revoked_at) - Number(!!b.revoked_at) || a.id.localeCompare(b.id));
      clear(list, agents.length ? h("div", { class: "agent-grid" }, agents.map((a) => agentCard(a, write, load))) : empty(t("agents.empty")));
    } catch (e) {
      if (alive) clear(list, errorState(e, load));
    }
  }
  clear(main, pageHeader(t("nav.agents")), write ? enrollCard(load) : null, list);
  load();
  const reload = atMostEvery(RELOAD_MS, load);
  return {
    // Agents connecting or leaving, and the sync counters their stock changes move.
    onEvent: (ev) => {
      if (ev.kind === "stock_changed" || String(ev.kind || "").startsWith("agent")) reload();
    },
    dispose: () => {
      alive = false;
      // Kept over a language switch (same page), forgotten on leaving the page or signing out.
      if (!session() || location.hash !== "#/agents") lastToken = null;
    },
  };
}
