// Fulfilment, shared by its pages: the names of states, hold reasons, actors and delivery
// states; the panel of one order's fulfilment (holds, the actions a person may take, the
// timeline, why each warehouse was chosen, the delivery orders with their packages and the
// tracking write-back), a drawer on a desktop and the whole screen on a phone.
import { call, get } from "./api.js";
import { currentLang, formatMoney, formatNumber, formatTime, t } from "./i18n.js";
import { table } from "./list.js";
import { NONE, badge, clear, describeError, errorState, h, loading, platformName, toast } from "./ui.js";

// Every state in the board's order: exceptions first (mobile-api FulfilmentState::ALL).
export const FULFILMENT_STATES = [
  "intercept_failed",
  "warehouse_refused",
  "out_of_stock",
  "unmapped_sku",
  "address_incomplete",
  "held",
  "paid",
  "review",
  "allocated",
  "sent",
  "partly_shipped",
  "shipped",
  "completed",
  "cancelled",
];
export const EXCEPTION_STATES = FULFILMENT_STATES.slice(0, 5);

export function stateName(s) {
  return (
    {
      intercept_failed: t("ful.state.intercept_failed"),
      warehouse_refused: t("ful.state.warehouse_refused"),
      out_of_stock: t("ful.state.out_of_stock"),
      unmapped_sku: t("ful.state.unmapped_sku"),
      address_incomplete: t("ful.state.address_incomplete"),
      held: t("ful.state.held"),
      paid: t("ful.state.paid"),
      review: t("ful.state.review"),
      allocated: t("ful.state.allocated"),
      sent: t("ful.state.sent"),
      partly_shipped: t("ful.state.partly_shipped"),
      shipped: t("ful.state.shipped"),
      completed: t("ful.state.completed"),
      cancelled: t("ful.state.cancelled"),
    }[s] ?? s
  );
}

export function stateKind(s) {
  if (EXCEPTION_STATES.includes(s)) return "error";
  if (s === "held") return "warn";
  if (s === "shipped" || s === "completed") return "ok";
  if (s === "cancelled") return "muted";
  return "role";
}

export function stateBadge(s) {
  return h("span", { class: "badge badge-" + stateKind(s), dataset: { state: s } }, stateName(s));
}

// One hold reason in words, its values filled in (mobile-api HoldReason).
export function holdText(hold) {
  const p = hold.params || {};
  switch (hold.code) {
    case "buyer_memo":
      return t("ful.hold.buyer_memo", { memo: p.memo ?? "" });
    case "seller_memo":
      return t("ful.hold.seller_memo", { memo: p.memo ?? "" });
    case "amount_over":
      return t("ful.hold.amount_over", { paid: p.paid ?? "", threshold: p.threshold ?? "" });
    case "address_incomplete":
      return t("ful.hold.address_incomplete", { missing: p.missing ?? "" });
    case "cod":
      return t("ful.hold.cod");
    case "unmapped_sku":
      return t("ful.hold.unmapped_sku", { lines: p.lines ?? "" });
    case "repeat_receiver":
      return t("ful.hold.repeat_receiver", { count: p.count ?? "", minutes: p.window_minutes ?? "" });
    case "blacklisted":
      return t("ful.hold.blacklisted", { field: p.field ?? "" });
    case "manual":
      return t("ful.hold.manual", { reason: p.reason ?? "", by: p.by ?? "" });
    default:
      return hold.code;
  }
}

export function holdList(holds) {
  return (holds || []).length ? h("ul", { class: "legend holds" }, holds.map((x) => h("li", { dataset: { hold: x.code } }, holdText(x)))) : null;
}

function actorName(kind) {
  return (
    {
      rule: t("ful.actor.rule"),
      user: t("ful.actor.user"),
      platform: t("ful.actor.platform"),
      warehouse: t("ful.actor.warehouse"),
      hub: t("ful.actor.hub"),
    }[kind] ?? kind
  );
}

export function deliveryStateName(s) {
  return (
    {
      sending: t("ful.delivery.sending"),
      pending: t("ful.delivery.pending"),
      partly_shipped: t("ful.delivery.partly_shipped"),
      shipped: t("ful.delivery.shipped"),
      cancelling: t("ful.delivery.cancelling"),
      cancelled: t("ful.delivery.cancelled"),
      exception: t("ful.delivery.exception"),
    }[s] ?? s
  );
}

export function deliveryBadge(s) {
  const kind = s === "shipped" ? "ok" : s === "exception" ? "error" : s === "cancelled" ? "muted" : "warn";
  return h("span", { class: "badge badge-" + kind, dataset: { delivery: s } }, deliveryStateName(s));
}

export function warehouseKindName(k) {
  return ({ agent: t("wh.kind.agent"), qimen: t("wh.kind.qimen"), phone: t("wh.kind.phone") }[k] ?? k);
}

function basisName(b) {
  return ({ rules: t("ful.basis.rules"), designated: t("ful.basis.designated"), manual: t("ful.basis.manual") }[b] ?? b);
}

function writebackBadge(w) {
  const [kind, text] =
    w.state === "acknowledged"
      ? ["ok", t("ful.writeback.acknowledged")]
      : w.state === "failed"
        ? ["error", t("ful.writeback.failed", { n: formatNumber(w.attempts) })]
        : ["warn", t("ful.writeback.pending")];
  return h(
    "div",
    { class: "writeback", dataset: { writeback: w.state, order: w.order_id } },
    badge(text, kind),
    w.last_error ? h("div", { class: "text-error small" }, w.last_error) : null,
    w.state !== "acknowledged" && w.next_attempt_at ? h("div", { class: "muted small" }, t("ful.writeback.next", { time: formatTime(w.next_attempt_at) })) : null,
  );
}

// A text the hub gives in both languages, in the chosen one.
export function localized(text) {
  return text?.[currentLang()] ?? text?.en ?? "";
}

export function linesText(lines) {
  return (lines || []).map((l) => `${l.sku} ×${formatNumber(l.quantity)}`).join(" · ");
}

function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(Boolean).map(([label, value]) => h("div", {}, h("dt", {}, label), h("dd", {}, value === null || value === undefined || value === "" ? NONE : value))),
  );
}

// A one-line form asking for a reason; `submit(reason)` runs when it is given.
export function reasonForm(id, placeholder, submitLabel, submit, onCancel) {
  const input = h("input", { id, maxlength: "200", required: true, autocomplete: "off", placeholder, enterkeyhint: "done" });
  const ok = h("button", { class: "btn btn-small btn-primary", type: "submit" }, submitLabel);
  const cancel = h("button", { class: "btn btn-small btn-ghost", type: "button" }, t("common.cancel"));
  const form = h("form", { class: "reason-form" }, input, ok, cancel);
  form.addEventListener("click", (e) => e.stopPropagation());
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const reason = input.value.trim();
    if (!reason) {
      input.focus();
      return;
    }
    ok.disabled = true;
    try {
      await submit(reason);
    } finally {
      ok.disabled = false;
    }
  });
  cancel.addEventListener("click", () => onCancel?.());
  setTimeout(() => input.focus(), 0);
  return form;
}

// Sends one action on order `id`; resolves to the order after it, or null (shown as a toast).
export async function act(id, body) {
  try {
    const view = await call("POST", `/api/v1/fulfilment/orders/${encodeURIComponent(id)}/actions`, body);
    toast(t("ful.action_done", { action: actionName(body.action) }), "ok");
    return view;
  } catch (e) {
    toast(describeError(e), "error");
    return null;
  }
}

export function actionName(a) {
  return (
    {
      approve: t("ful.action.approve"),
      hold: t("ful.action.hold"),
      release: t("ful.action.release"),
      cancel: t("ful.action.cancel"),
      reroute: t("ful.action.reroute"),
      split: t("ful.action.split"),
    }[a] ?? a
  );
}

// The buttons of the actions that apply now. after(view) runs when one succeeded.
function actionBar(view, after) {
  const box = h("div", { class: "fulfil-actions", id: "ful-actions" });
  const bar = h("div", { class: "card-actions" });
  const extra = h("div", {});
  const run = async (body) => {
    const next = await act(view.id, body);
    if (next) after(next);
  };
  const reset = () => clear(extra);
  const button = (action, cls, onclick) => h("button", { class: "btn btn-small " + cls, type: "button", dataset: { action }, onclick }, actionName(action));
  for (const a of view.actions || []) {
    if (a === "approve") bar.append(button(a, "btn-primary", () => run({ action: "approve" })));
    if (a === "release") bar.append(button(a, "", () => run({ action: "release" })));
    if (a === "hold") {
      bar.append(button(a, "", () => clear(extra, reasonForm("ful-hold-reason", t("ful.hold_reason"), actionName("hold"), (reason) => run({ action: "hold", reason }), reset))));
    }
    if (a === "cancel") {
      bar.append(button(a, "btn-danger", () => clear(extra, reasonForm("ful-cancel-reason", t("ful.cancel_reason"), t("ful.cancel_confirm"), (reason) => run({ action: "cancel", reason }), reset))));
    }
    if (a === "reroute") bar.append(button(a, "", () => rerouteForm(view, extra, run, reset)));
  }
  if (!bar.children.length) return null;
  box.append(bar, extra);
  return box;
}

async function rerouteForm(view, extra, run, reset) {
  clear(extra, loading());
  try {
    const { warehouses } = await get("/api/v1/warehouses");
    const current = new Set(view.warehouses || []);
    const select = h(
      "select",
      { id: "ful-reroute-warehouse" },
      warehouses.filter((w) => w.enabled && !current.has(w.code)).map((w) => h("option", { value: w.code }, `${w.code} · ${w.name}`)),
    );
    const form = h(
      "form",
      { class: "reason-form" },
      select,
      h("button", { class: "btn btn-small btn-primary", type: "submit" }, actionName("reroute")),
      h("button", { class: "btn btn-small btn-ghost", type: "button", onclick: reset }, t("common.cancel")),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (select.value) run({ action: "reroute", warehouse: select.value });
    });
    clear(extra, select.options.length ? form : h("p", { class: "muted small" }, t("ful.no_other_warehouse")));
  } catch (e) {
    clear(extra, h("p", { class: "text-error small" }, describeError(e)));
  }
}

function timelineTable(steps) {
  return table(
    [
      { key: "at", label: t("ful.at"), cls: "nowrap small", cell: (s) => formatTime(s.at) },
      { key: "change", label: t("ful.change"), cell: (s) => [s.from ? [stateBadge(s.from), " → "] : null, stateBadge(s.to)] },
      { key: "actor", label: t("ful.actor"), cell: (s) => [actorName(s.actor), s.actor_id ? h("span", { class: "muted small mono" }, " ", s.actor_id) : null] },
      { key: "reason", label: t("ful.reason"), cell: (s) => s.reason || NONE },
    ],
    steps || [],
    { cls: "compact timeline", rowAttrs: (s) => ({ dataset: { to: s.to } }) },
  );
}

function dispatchPart(part) {
  return h(
    "div",
    { class: "part", dataset: { warehouse: part.warehouse } },
    h("div", { class: "detail-head" }, h("strong", { class: "mono" }, part.warehouse), badge(basisName(part.basis), "role")),
    h("p", { class: "explanation" }, localized(part.explanation)),
    facts([
      [t("ful.matched_region"), part.matched_region],
      [t("ful.lines_held"), t("ful.lines_held_of", { held: formatNumber(part.lines_held), total: formatNumber(part.lines_total) })],
      [t("wh.priority"), formatNumber(part.priority)],
      [t("wh.cost"), part.cost ? formatMoney(part.cost) : null],
    ]),
    h("div", { class: "small" }, linesText(part.lines)),
    part.rejected?.length
      ? h(
          "ul",
          { class: "legend rejected" },
          part.rejected.map((r) => h("li", { dataset: { warehouse: r.warehouse, reason: r.reason } }, h("strong", { class: "mono" }, r.warehouse), " ", localized(r.text))),
        )
      : null,
  );
}

export function packagesTable(packages) {
  return table(
    [
      { key: "tracking", label: t("ship.tracking_no"), cell: (p) => [h("strong", { class: "mono" }, p.tracking_no), h("div", { class: "muted small" }, carrierName(p.carrier))] },
      { key: "lines", label: t("ful.lines"), cell: (p) => linesText(p.lines) },
      { key: "shipped", label: t("ful.shipped_at"), cls: "nowrap small", cell: (p) => [formatTime(p.shipped_at), p.confirmed_by_id ? h("div", { class: "muted small" }, p.confirmed_by_id) : null] },
      { key: "writeback", label: t("ful.writeback"), cell: (p) => (p.writeback || []).map(writebackBadge) },
    ],
    packages || [],
    { cls: "compact packages", rowAttrs: (p) => ({ dataset: { tracking: p.tracking_no } }) },
  );
}

function deliverySection(d) {
  return h(
    "div",
    { class: "part delivery", dataset: { delivery: d.delivery_no } },
    h("div", { class: "detail-head" }, h("strong", { class: "mono" }, d.delivery_no), deliveryBadge(d.state), h("span", { class: "muted small" }, d.warehouse, " · ", warehouseKindName(d.warehouse_kind))),
    d.exception ? h("p", { class: "alert alert-error small" }, exceptionKindName(d.exception.kind), d.exception.reason ? ": " + d.exception.reason : "") : null,
    d.packages?.length ? packagesTable(d.packages) : h("p", { class: "muted small" }, t("ful.no_packages")),
  );
}

export function exceptionKindName(k) {
  return (
    {
      out_of_stock: t("ship.exception.out_of_stock"),
      address_problem: t("ship.exception.address_problem"),
      damaged: t("ship.exception.damaged"),
      other: t("ship.exception.other"),
    }[k] ?? k
  );
}

// The carriers the phone page offers (mobile-api COMMON_CARRIERS), with their names.
export const CARRIERS = ["SF", "ZTO", "YTO", "YUNDA", "STO", "EMS", "POSTB", "JD", "JTSD", "DBKD", "HTKY", "ZJS"];

export function carrierName(code) {
  return (
    {
      SF: t("carrier.SF"),
      ZTO: t("carrier.ZTO"),
      YTO: t("carrier.YTO"),
      YUNDA: t("carrier.YUNDA"),
      STO: t("carrier.STO"),
      EMS: t("carrier.EMS"),
      POSTB: t("carrier.POSTB"),
      JD: t("carrier.JD"),
      JTSD: t("carrier.JTSD"),
      DBKD: t("carrier.DBKD"),
      HTKY: t("carrier.HTKY"),
      ZJS: t("carrier.ZJS"),
    }[code] ?? code
  );
}

function fulfilmentDetail(v, after) {
  return [
    h(
      "section",
      { class: "detail-section", dataset: { group: "state" } },
      h("div", { class: "detail-head" }, stateBadge(v.state), h("span", { class: "muted small" }, t("ful.since", { time: formatTime(v.since) }))),
      v.holds?.length ? h("div", { class: "alert alert-warn", id: "ful-holds" }, h("strong", {}, t("ful.held_because")), holdList(v.holds)) : null,
      facts([
        [t("orders.order_no"), h("span", { class: "mono" }, v.order_no)],
        [t("orders.shop"), `${v.shop_name || v.shop_id} · ${platformName(v.platform)}`],
        [t("orders.receiver"), v.receiver_name],
        [t("orders.paid"), formatMoney(v.paid)],
        [t("ful.warehouses"), (v.warehouses || []).join(", ")],
        v.merged_with?.length ? [t("ful.merged_with"), v.merged_with.join(", ")] : null,
      ]),
      after ? actionBar(v, after) : null,
    ),
    h("section", { class: "detail-section", dataset: { group: "timeline" } }, h("h3", {}, t("ful.timeline")), timelineTable(v.timeline)),
    h(
      "section",
      { class: "detail-section", dataset: { group: "dispatch" } },
      h("h3", {}, t("ful.dispatch")),
      v.dispatch?.length ? v.dispatch.map(dispatchPart) : h("p", { class: "muted small" }, t("ful.not_dispatched")),
    ),
    h(
      "section",
      { class: "detail-section", dataset: { group: "deliveries" } },
      h("h3", {}, t("ful.deliveries")),
      v.deliveries?.length ? v.deliveries.map(deliverySection) : h("p", { class: "muted small" }, t("ful.no_deliveries")),
    ),
  ];
}

// The panel. canAct: whether the actions show (orders:write); onChanged(view): an action
// changed the order (the page refreshes its list).
export function fulfilmentDrawer(canAct, onChanged) {
  const content = h("div", { class: "drawer-body", id: "ful-detail" });
  const closeButton = h("button", { class: "btn btn-ghost btn-small", type: "button", id: "ful-close", "aria-label": t("common.close") }, "✕ ", t("common.close"));
  const title = h("h2", { class: "card-title" }, t("ful.detail"));
  const el = h("aside", { class: "drawer", hidden: true, role: "dialog", "aria-modal": "false", "aria-label": t("ful.detail") }, h("div", { class: "drawer-head" }, title, closeButton), content);
  let generation = 0;
  let shown = null; // the order id shown
  const onKey = (e) => {
    if (e.key === "Escape") close();
  };
  function close() {
    generation++;
    shown = null;
    el.hidden = true;
    document.removeEventListener("keydown", onKey);
  }
  closeButton.addEventListener("click", close);
  function render(v, keepScroll) {
    const top = el.scrollTop;
    title.textContent = t("ful.detail_title", { no: v.order_no });
    const after = canAct
      ? (next) => {
          render(next, true);
          onChanged?.(next);
        }
      : null;
    clear(content, fulfilmentDetail(v, after));
    el.dataset.order = v.id;
    el.dataset.state = v.state;
    el.scrollTop = keepScroll ? top : 0;
    shown = v.id;
  }
  async function open(id, again) {
    const mine = ++generation;
    el.hidden = false;
    document.addEventListener("keydown", onKey);
    if (!again) {
      shown = null;
      clear(content, loading());
    }
    try {
      const v = await get(`/api/v1/fulfilment/orders/${encodeURIComponent(id)}`);
      if (mine === generation) render(v, again);
    } catch (e) {
      if (mine === generation && !again) clear(content, errorState(e, () => open(id)));
    }
  }
  // An event about orders: the one shown is fetched again when it may be among them.
  function onEvent(ev) {
    if (!shown || el.hidden) return;
    const kind = String(ev.kind || "");
    const about = (ev.orders || []).includes(shown) || (ev.truncated && shown.startsWith(`${ev.shop}:`));
    const unspecific = !ev.orders && (kind.startsWith("fulfilment") || kind.startsWith("deliver"));
    if (about || unspecific) open(shown, true);
  }
  return { el, open, close, onEvent };
}

// Whether an event may change what fulfilment pages show.
export function isFulfilmentEvent(ev) {
  const kind = String(ev?.kind || "");
  return kind === "orders_changed" || kind.startsWith("fulfilment") || kind.startsWith("deliver");
}
