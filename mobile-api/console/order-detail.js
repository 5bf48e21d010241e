// One order's detail (receiver, amounts, lines, refunds and where each field group came from)
// and its buyer as a member, in a panel over the orders list: a drawer on the right on a
// desktop, the whole screen on a phone.
import { get } from "./api.js";
import { formatMoney, formatNumber, formatTime, t } from "./i18n.js";
import { table } from "./list.js";
import { NONE, badge, clear, errorState, h, loading, orderStatusKind, orderStatusName, platformName, refundStateName } from "./ui.js";

export function statusBadge(status) {
  return h("span", { class: "badge badge-" + orderStatusKind(status), dataset: { status } }, orderStatusName(status));
}

function provenanceTitle(p) {
  return t("orders.provenance_title", { origin: p.origin, version: String(p.version), time: formatTime(p.at) });
}

function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(Boolean).map(([label, value]) => h("div", {}, h("dt", {}, label), h("dd", {}, value === null || value === undefined || value === "" ? NONE : value))),
  );
}

// The detail panel. canMap: whether an unmapped line offers "add a mapping" (orders:write).
export function orderDrawer(canMap) {
  const content = h("div", { class: "drawer-body", id: "order-detail" });
  const closeButton = h("button", { class: "btn btn-ghost btn-small", type: "button", id: "order-close", "aria-label": t("common.close") }, "✕ ", t("common.close"));
  const title = h("h2", { class: "card-title" }, t("orders.detail"));
  const el = h("aside", { class: "drawer", hidden: true, role: "dialog", "aria-modal": "false", "aria-label": t("orders.detail") }, h("div", { class: "drawer-head" }, title, closeButton), content);
  let generation = 0;
  // The order shown (null while loading, or showing a member): { id, shop }.
  let shown = null;
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
  // again: the same order fetched anew, in place (the panel keeps its scroll).
  async function open(id, again) {
    const mine = ++generation;
    el.hidden = false;
    document.addEventListener("keydown", onKey);
    if (!again) {
      shown = null;
      clear(content, loading());
    }
    try {
      const o = await get(`/api/v1/orders/${encodeURIComponent(id)}`);
      if (mine !== generation) return;
      title.textContent = t("orders.detail_title", { no: o.order_no });
      const top = el.scrollTop;
      clear(content, orderDetail(o, showMember, canMap));
      el.dataset.order = o.id;
      el.scrollTop = again ? top : 0;
      shown = { id: o.id, shop: o.shop_id };
    } catch (e) {
      if (mine === generation && !again) clear(content, errorState(e, () => open(id)));
    }
  }
  // An `orders_changed` event: the order shown is fetched again when it is among the changed
  // ones, or when the event left ids out (truncated) for its shop.
  function onOrdersChanged(ev) {
    if (!shown || el.hidden) return;
    if ((ev.orders || []).includes(shown.id) || (ev.truncated && ev.shop === shown.shop)) open(shown.id, true);
  }
  // The buyer as one member across shops: identities and orders (each opens in this panel).
  async function showMember(id) {
    const mine = ++generation;
    shown = null;
    clear(content, loading());
    try {
      const m = await get(`/api/v1/members/${encodeURIComponent(id)}`);
      if (mine !== generation) return;
      title.textContent = t("orders.member_title", { id: m.id });
      clear(
        content,
        h(
          "section",
          { class: "detail-section", id: "member-detail" },
          facts([
            [t("orders.first_seen"), formatTime(m.first_seen)],
            [t("orders.last_seen"), formatTime(m.last_seen)],
          ]),
          h("h3", {}, t("orders.identities")),
          h(
            "ul",
            { class: "legend" },
            (m.identities || []).map((i) => h("li", {}, platformName(i.platform), " · ", i.kind, " ", h("span", { class: "mono" }, i.value))),
          ),
          h("h3", {}, t("orders.member_orders")),
          table(
            [
              { key: "order_no", label: t("orders.order_no"), cell: (o) => [h("strong", { class: "mono" }, o.order_no), h("div", { class: "muted small" }, o.shop_name || o.shop_id)] },
              { key: "status", label: t("orders.status"), cell: (o) => statusBadge(o.status) },
              { key: "paid", label: t("orders.paid"), cls: "num", cell: (o) => formatMoney(o.paid) },
            ],
            m.orders || [],
            { cls: "compact", rowAttrs: (o) => ({ class: "clickable", dataset: { order: o.id }, onclick: () => open(o.id) }) },
          ),
        ),
      );
    } catch (e) {
      if (mine === generation) clear(content, errorState(e, () => showMember(id)));
    }
  }
  return { el, open, close, onOrdersChanged };
}

function orderDetail(o, showMember, canMap) {
  const prov = new Map((o.provenance || []).map((p) => [p.field, p]));
  // Desktop users hover a field group to see where it came from.
  const from = (field) => (prov.has(field) ? provenanceTitle(prov.get(field)) : null);
  const a = o.amounts || {};
  const r = o.receiver || {};
  const b = o.buyer || {};
  const flags = o.flags || {};
  const address = [r.country, r.province, r.city, r.district, r.town, r.address].filter(Boolean).join(" ");
  const flagBadges = [flags.cod ? badge(t("orders.flag_cod"), "warn") : null, flags.presale ? badge(t("orders.flag_presale"), "role") : null, flags.test ? badge(t("orders.flag_test"), "muted") : null];
  const lines = o.lines || [];
  return [
    h(
      "section",
      { class: "detail-section", dataset: { group: "status" }, title: from("status") },
      h(
        "div",
        { class: "detail-head" },
        statusBadge(o.status),
        o.platform_status ? h("span", { class: "muted small" }, t("orders.platform_status"), " ", o.platform_status) : null,
        h("div", { class: "chips" }, flagBadges),
      ),
      o.held ? h("p", { class: "alert alert-error", id: "order-held" }, t("orders.held_reason"), " ", o.held) : null,
      facts([
        [t("orders.shop"), `${o.shop_name || o.shop_id} · ${platformName(o.platform)}`],
        [t("orders.order_no"), h("span", { class: "mono" }, o.order_no)],
        [
          t("orders.member"),
          o.member_id ? h("button", { class: "btn btn-small mono", type: "button", id: "order-member", onclick: () => showMember(o.member_id) }, o.member_id) : null,
        ],
        [t("ful.fulfilment"), h("a", { href: "#/fulfilment-orders?order=" + encodeURIComponent(o.id), id: "order-fulfilment" }, t("ful.open_detail"))],
      ]),
    ),
    h(
      "section",
      { class: "detail-section", dataset: { group: "times" }, title: from("times") },
      facts([
        [t("orders.created"), formatTime(o.created_at)],
        [t("orders.paid_at"), o.paid_at ? formatTime(o.paid_at) : null],
        [t("orders.modified"), formatTime(o.modified_at)],
      ]),
    ),
    h(
      "section",
      { class: "detail-section", dataset: { group: "receiver" }, title: from("receiver") },
      h("h3", {}, t("orders.receiver"), r.masked ? h("span", { class: "muted small" }, " ", t("orders.masked")) : null),
      facts([
        [t("orders.receiver_name"), r.name],
        [t("orders.phone"), r.phone],
        [t("orders.address"), address],
        [t("orders.zip"), r.zip],
      ]),
    ),
    h(
      "section",
      { class: "detail-section", dataset: { group: "buyer" }, title: from("buyer") },
      h("h3", {}, t("orders.buyer")),
      facts([
        [t("orders.nick"), b.nick],
        [t("orders.open_uid"), b.open_uid ? h("span", { class: "mono" }, b.open_uid) : null],
        [t("orders.customer_id"), b.customer_id],
        [t("orders.email_sha256"), b.email_sha256 ? h("span", { class: "mono small" }, b.email_sha256.slice(0, 16) + "…") : null],
      ]),
    ),
    h(
      "section",
      { class: "detail-section", dataset: { group: "amounts" }, title: from("amounts") },
      h("h3", {}, t("orders.amounts")),
      facts([
        [t("orders.goods"), formatMoney(a.goods)],
        [t("orders.discount"), formatMoney(a.discount)],
        [t("orders.freight"), formatMoney(a.freight)],
        [t("orders.paid"), h("strong", {}, formatMoney(a.paid))],
        flags.cod ? [t("orders.cod_receivable"), formatMoney(a.cod_receivable)] : null,
        [t("orders.refunded"), formatMoney(a.refunded)],
      ]),
    ),
    o.buyer_memo || o.seller_memo
      ? h(
          "section",
          { class: "detail-section", dataset: { group: "memos" }, title: from("memos") },
          facts([
            [t("orders.buyer_memo"), o.buyer_memo],
            [t("orders.seller_memo"), o.seller_memo],
          ]),
        )
      : null,
    h(
      "section",
      { class: "detail-section" },
      h("h3", {}, t("orders.lines")),
      table(
        [
          {
            key: "item",
            label: t("orders.item"),
            cell: (l) => [
              l.title || NONE,
              h("div", { class: "muted small" }, t("orders.unit_price"), " ", formatMoney(l.unit_price), l.discount?.minor ? [" · ", t("orders.discount"), " ", formatMoney(l.discount)] : null),
              l.status ? h("div", {}, statusBadge(l.status)) : null,
              l.refund && l.refund !== "none" ? h("div", {}, badge(refundStateName(l.refund), "warn")) : null,
            ],
          },
          {
            key: "sku",
            label: t("orders.sku"),
            cell: (l) => [
              l.internal_sku ? h("strong", { class: "sku" }, l.internal_sku) : badge(t("orders.unmapped"), "error"),
              h("div", { class: "muted small mono" }, [l.platform_sku_id, l.merchant_sku].filter(Boolean).join(" / ") || NONE),
              !l.internal_sku && canMap ? h("a", { href: mappingLink(o.platform, l), class: "small map-link" }, t("orders.add_mapping")) : null,
            ],
          },
          { key: "quantity", label: t("orders.quantity"), cls: "num", cell: (l) => formatNumber(l.quantity) },
          { key: "paid", label: t("orders.line_paid"), cls: "num", cell: (l) => formatMoney(l.paid) },
        ],
        lines,
        { cls: "compact", rowAttrs: (l) => ({ dataset: { line: l.line_id, mapped: String(!!l.internal_sku) }, title: from(`lines[${lines.indexOf(l)}]`) }) },
      ),
    ),
    o.refunds?.length
      ? h(
          "section",
          { class: "detail-section" },
          h("h3", {}, t("orders.refunds")),
          table(
            [
              { key: "refund_id", label: t("orders.refund_id"), cell: (rf) => [h("span", { class: "mono" }, rf.refund_id), rf.reason ? h("div", { class: "muted small" }, rf.reason) : null] },
              {
                key: "state",
                label: t("orders.refund_state"),
                cell: (rf) => [badge(refundStateName(rf.state), "warn"), rf.platform_status ? h("div", { class: "muted small" }, rf.platform_status) : null],
              },
              { key: "amount", label: t("orders.amount"), cls: "num", cell: (rf) => formatMoney(rf.amount) },
              { key: "modified", label: t("orders.modified"), cls: "muted nowrap", cell: (rf) => formatTime(rf.modified_at) },
            ],
            o.refunds,
            { cls: "compact", rowAttrs: (rf) => ({ dataset: { refund: rf.refund_id } }) },
          ),
        )
      : null,
    h(
      "section",
      { class: "detail-section" },
      h("h3", {}, t("orders.provenance")),
      h("p", { class: "muted small" }, t("orders.provenance_help")),
      table(
        [
          { key: "field", label: t("orders.prov_field"), cls: "mono", cell: (p) => p.field },
          { key: "origin", label: t("orders.prov_origin"), cls: "mono small", cell: (p) => p.origin },
          { key: "version", label: t("orders.prov_version"), cls: "num mono small", cell: (p) => String(p.version) },
          { key: "at", label: t("orders.prov_at"), cls: "nowrap small", cell: (p) => formatTime(p.at) },
        ],
        o.provenance || [],
        { cls: "compact provenance", rowAttrs: (p) => ({ dataset: { field: p.field } }) },
      ),
    ),
  ];
}

// The SKU mappings page, its form filled in for this line.
function mappingLink(platform, line) {
  const p = new URLSearchParams({ platform });
  if (line.platform_sku_id) p.set("platform_sku_id", line.platform_sku_id);
  if (line.merchant_sku) p.set("merchant_sku", line.merchant_sku);
  return "#/sku-mappings?" + p;
}
