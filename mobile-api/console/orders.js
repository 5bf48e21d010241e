// The orders page (订单): captured platform orders with filters and cursor paging, one order's
// detail (receiver, amounts, lines, refunds and where each field group came from), and the SKU
// mappings page (商品映射) that ties platform SKUs to internal ones.
import { call, get, session } from "./api.js";
import { formatMoney, formatNumber, formatTime, t } from "./i18n.js";
import {
  NONE,
  ORDER_STATUSES,
  PLATFORMS,
  badge,
  card,
  clear,
  confirmButton,
  dataTable,
  debounce,
  describeError,
  empty,
  errorState,
  foldable,
  h,
  isAdmin,
  loading,
  orderStatusKind,
  orderStatusName,
  pageHeader,
  platformName,
  refundStateName,
  toast,
} from "./ui.js";

const ORDER_PAGE_ROWS = 50;
const RELOAD_DEBOUNCE_MS = 1500;

// The filters are kept across page switches and language changes.
const orderQuery = { shop: "", platform: "", status: "", order_no: "", receiver: "", held: false };
// A mapping the order detail asked the SKU mappings page to start from.
let mappingDraft = null;

function canWrite() {
  return isAdmin(session());
}

function statusBadge(status) {
  return h("span", { class: "badge badge-" + orderStatusKind(status), dataset: { status } }, orderStatusName(status));
}

function select(id, options, value) {
  return h(
    "select",
    { id },
    options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)),
  );
}

// ---------------------------------------------------------------- orders list

export function ordersPage(main) {
  const tbody = h("tbody", { id: "order-rows" });
  const body = h("div", { class: "page-body" });
  const count = h("span", { class: "muted", id: "orders-count" });
  const more = h("button", { class: "btn", type: "button", id: "orders-more", hidden: true }, t("orders.more"));
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
  const drawer = orderDrawer();
  clear(main, pageHeader(t("nav.orders"), count), form, body, drawer.el);
  let next = null;
  let generation = 0;
  let shown = 0;

  // The shop filter lists the shops the user may see (managers and admins; others get none).
  get("/api/v1/shops")
    .then(({ shops }) => {
      for (const s of shops) shop.append(h("option", { value: s.id, selected: s.id === orderQuery.shop }, `${s.name} · ${platformName(s.platform)}`));
    })
    .catch(() => {
      shop.parentElement.hidden = true;
    });

  function query(cursor) {
    const p = new URLSearchParams({ limit: String(ORDER_PAGE_ROWS) });
    for (const k of ["shop", "platform", "status", "order_no", "receiver"]) if (orderQuery[k]) p.set(k, orderQuery[k]);
    if (orderQuery.held) p.set("held", "true");
    if (cursor) p.set("cursor", cursor);
    return "/api/v1/orders?" + p;
  }

  function row(o) {
    const tr = h(
      "tr",
      { class: "clickable", dataset: { order: o.id, status: o.status }, tabindex: "0" },
      h(
        "td",
        {},
        h("strong", { class: "mono" }, o.order_no),
        h("div", { class: "muted small" }, o.shop_name || o.shop_id, " · ", platformName(o.platform)),
        h("div", { class: "muted small show-phone" }, formatTime(o.modified_at)),
      ),
      h("td", {}, statusBadge(o.status), o.held ? h("div", {}, badge(t("orders.held"), "error")) : null),
      h("td", { class: "hide-phone" }, o.receiver_name || NONE, o.receiver_masked ? h("span", { class: "muted small" }, " ", t("orders.masked")) : null),
      h("td", { class: "num" }, formatMoney(o.paid), h("div", { class: "muted small" }, t("orders.lines_n", { n: formatNumber(o.lines) }))),
      h("td", { class: "hide-phone muted nowrap" }, formatTime(o.modified_at)),
    );
    const open = () => drawer.open(o.id);
    tr.addEventListener("click", open);
    tr.addEventListener("keydown", (e) => {
      if (e.key === "Enter") open();
    });
    return tr;
  }

  async function load(cursor) {
    const mine = ++generation;
    if (!cursor) {
      shown = 0;
      clear(body, loading());
    }
    more.disabled = true;
    try {
      const page = await get(query(cursor));
      if (mine !== generation) return;
      if (!cursor) {
        tbody.replaceChildren();
        if (!page.orders.length) {
          const filtered = Object.values(orderQuery).some(Boolean);
          clear(body, empty(filtered ? t("orders.no_match") : t("orders.empty")));
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
                h(
                  "tr",
                  {},
                  h("th", {}, t("orders.order_no")),
                  h("th", {}, t("orders.status")),
                  h("th", { class: "hide-phone" }, t("orders.receiver")),
                  h("th", { class: "num" }, t("orders.paid")),
                  h("th", { class: "hide-phone" }, t("orders.modified")),
                ),
              ),
              tbody,
            ),
          ),
          h("div", { class: "more" }, more),
        );
      }
      tbody.append(...page.orders.map(row));
      shown += page.orders.length;
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
    Object.assign(orderQuery, {
      shop: shop.value,
      platform: platform.value,
      status: status.value,
      order_no: orderNo.value.trim(),
      receiver: receiver.value.trim(),
      held: held.checked,
    });
    load();
  });
  for (const el of [shop, platform, status, held]) el.addEventListener("change", () => form.requestSubmit());
  more.addEventListener("click", () => load(next));
  load();
  const reload = debounce(() => {
    // Only refresh a list that is still its first page, so "load more" is not undone.
    if (!next || shown <= ORDER_PAGE_ROWS) load();
  }, RELOAD_DEBOUNCE_MS);

  return {
    onEvent(ev) {
      if (String(ev.kind || "").startsWith("order")) reload();
    },
    dispose() {
      generation++;
      drawer.close();
      if (!session()) Object.assign(orderQuery, { shop: "", platform: "", status: "", order_no: "", receiver: "", held: false });
    },
  };
}

// ---------------------------------------------------------------- order detail

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

// The detail panel: a drawer on the right on desktop, the whole screen on a phone.
function orderDrawer() {
  const content = h("div", { class: "drawer-body", id: "order-detail" });
  const closeButton = h("button", { class: "btn btn-ghost btn-small", type: "button", id: "order-close", "aria-label": t("common.close") }, "✕ ", t("common.close"));
  const title = h("h2", { class: "card-title" }, t("orders.detail"));
  const el = h("aside", { class: "drawer", hidden: true, role: "dialog", "aria-modal": "false", "aria-label": t("orders.detail") }, h("div", { class: "drawer-head" }, title, closeButton), content);
  let generation = 0;
  const onKey = (e) => {
    if (e.key === "Escape") close();
  };
  function close() {
    generation++;
    el.hidden = true;
    document.removeEventListener("keydown", onKey);
  }
  closeButton.addEventListener("click", close);
  async function open(id) {
    const mine = ++generation;
    el.hidden = false;
    document.addEventListener("keydown", onKey);
    clear(content, loading());
    try {
      const o = await get(`/api/v1/orders/${encodeURIComponent(id)}`);
      if (mine !== generation) return;
      title.textContent = t("orders.detail_title", { no: o.order_no });
      clear(content, orderDetail(o, showMember));
      el.dataset.order = o.id;
      el.scrollTop = 0;
    } catch (e) {
      if (mine === generation) clear(content, errorState(e, () => open(id)));
    }
  }
  // The buyer as one member across shops: identities and orders (each opens in this panel).
  async function showMember(id) {
    const mine = ++generation;
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
          dataTable(
            [[t("orders.order_no")], [t("orders.status")], [t("orders.paid"), "num"]],
            (m.orders || []).map((o) =>
              h(
                "tr",
                { class: "clickable", dataset: { order: o.id }, onclick: () => open(o.id) },
                h("td", {}, h("strong", { class: "mono" }, o.order_no), h("div", { class: "muted small" }, o.shop_name || o.shop_id)),
                h("td", {}, statusBadge(o.status)),
                h("td", { class: "num" }, formatMoney(o.paid)),
              ),
            ),
            "compact",
          ),
        ),
      );
    } catch (e) {
      if (mine === generation) clear(content, errorState(e, () => showMember(id)));
    }
  }
  return { el, open, close };
}

function orderDetail(o, showMember) {
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
      dataTable(
        [[t("orders.item")], [t("orders.sku")], [t("orders.quantity"), "num"], [t("orders.line_paid"), "num"]],
        lines.map((l, i) =>
          h(
            "tr",
            { dataset: { line: l.line_id, mapped: String(!!l.internal_sku) }, title: from(`lines[${i}]`) },
            h(
              "td",
              {},
              l.title || NONE,
              h("div", { class: "muted small" }, t("orders.unit_price"), " ", formatMoney(l.unit_price), l.discount?.minor ? [" · ", t("orders.discount"), " ", formatMoney(l.discount)] : null),
              l.status ? h("div", {}, statusBadge(l.status)) : null,
              l.refund && l.refund !== "none" ? h("div", {}, badge(refundStateName(l.refund), "warn")) : null,
            ),
            h(
              "td",
              {},
              l.internal_sku ? h("strong", { class: "sku" }, l.internal_sku) : badge(t("orders.unmapped"), "error"),
              h("div", { class: "muted small mono" }, [l.platform_sku_id, l.merchant_sku].filter(Boolean).join(" / ") || NONE),
              !l.internal_sku && canWrite()
                ? h(
                    "a",
                    {
                      href: "#/sku-mappings",
                      class: "small map-link",
                      onclick: () => {
                        mappingDraft = { platform: o.platform, platform_sku_id: l.platform_sku_id, merchant_sku: l.merchant_sku };
                      },
                    },
                    t("orders.add_mapping"),
                  )
                : null,
            ),
            h("td", { class: "num" }, formatNumber(l.quantity)),
            h("td", { class: "num" }, formatMoney(l.paid)),
          ),
        ),
        "compact",
      ),
    ),
    o.refunds?.length
      ? h(
          "section",
          { class: "detail-section" },
          h("h3", {}, t("orders.refunds")),
          dataTable(
            [[t("orders.refund_id")], [t("orders.refund_state")], [t("orders.amount"), "num"], [t("orders.modified"), "hide-phone"]],
            o.refunds.map((rf) =>
              h(
                "tr",
                { dataset: { refund: rf.refund_id } },
                h("td", {}, h("span", { class: "mono" }, rf.refund_id), rf.reason ? h("div", { class: "muted small" }, rf.reason) : null),
                h("td", {}, badge(refundStateName(rf.state), "warn"), rf.platform_status ? h("div", { class: "muted small" }, rf.platform_status) : null),
                h("td", { class: "num" }, formatMoney(rf.amount)),
                h("td", { class: "hide-phone muted nowrap" }, formatTime(rf.modified_at)),
              ),
            ),
            "compact",
          ),
        )
      : null,
    h(
      "section",
      { class: "detail-section" },
      h("h3", {}, t("orders.provenance")),
      h("p", { class: "muted small" }, t("orders.provenance_help")),
      dataTable(
        [[t("orders.prov_field")], [t("orders.prov_origin")], [t("orders.prov_version"), "num"], [t("orders.prov_at")]],
        (o.provenance || []).map((p) =>
          h(
            "tr",
            { dataset: { field: p.field } },
            h("td", { class: "mono" }, p.field),
            h("td", { class: "mono small" }, p.origin),
            h("td", { class: "num mono small" }, String(p.version)),
            h("td", { class: "nowrap small" }, formatTime(p.at)),
          ),
        ),
        "compact provenance",
      ),
    ),
  ];
}

// ---------------------------------------------------------------- SKU mappings

function addMappingCard(onCreated) {
  const draft = mappingDraft;
  mappingDraft = null;
  const platform = select("map-platform", PLATFORMS.map((p) => [p, platformName(p)]), draft?.platform || "taobao");
  const useMerchant = !!draft && !draft.platform_sku_id && !!draft.merchant_sku;
  const kind = select(
    "map-kind",
    [
      ["platform_sku_id", t("mappings.platform_sku_id")],
      ["merchant_sku", t("mappings.merchant_sku")],
    ],
    useMerchant ? "merchant_sku" : "platform_sku_id",
  );
  const key = h("input", { id: "map-key", autocomplete: "off", required: true, value: (useMerchant ? draft.merchant_sku : draft?.platform_sku_id) || "" });
  const sku = h("input", { id: "map-sku", autocomplete: "off", required: true, placeholder: t("mappings.sku_placeholder") });
  const error = h("p", { class: "alert alert-error", role: "alert", hidden: true });
  const submit = h("button", { class: "btn btn-primary", type: "submit", id: "map-submit" }, t("mappings.add"));
  const form = h(
    "form",
    { class: "form-grid", id: "map-form" },
    h("label", {}, h("span", {}, t("orders.platform")), platform),
    h("label", {}, h("span", {}, t("mappings.key_kind")), kind),
    h("label", {}, h("span", {}, t("mappings.key")), key),
    h("label", {}, h("span", {}, t("mappings.sku")), sku),
    h("div", { class: "form-actions" }, submit),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    if (!key.value.trim() || !sku.value.trim()) {
      error.textContent = t("mappings.incomplete");
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    try {
      const body = { platform: platform.value, sku: sku.value.trim() };
      body[kind.value] = key.value.trim();
      await call("POST", "/api/v1/sku-mappings", body);
      toast(t("mappings.created_toast", { sku: body.sku }), "ok");
      form.reset();
      onCreated();
    } catch (err) {
      error.textContent = describeError(err);
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  if (draft) setTimeout(() => sku.focus(), 0);
  return foldable("map-new-toggle", t("mappings.new"), !!draft, h("p", { class: "muted" }, t("mappings.help")), form, error);
}

export function mappingsPage(main) {
  const list = h("div", { class: "page-body", id: "mappings-list" }, loading());
  const write = canWrite();
  let alive = true;
  async function load() {
    try {
      const { mappings } = await get("/api/v1/sku-mappings");
      if (!alive) return;
      clear(
        list,
        mappings.length
          ? card(
              t("mappings.list"),
              dataTable(
                [[t("orders.platform")], [t("mappings.key")], [t("mappings.sku")], [t("mappings.created"), "hide-phone"], [""]],
                mappings.map((m) =>
                  h(
                    "tr",
                    { dataset: { mapping: m.id } },
                    h("td", {}, platformName(m.platform)),
                    h(
                      "td",
                      {},
                      m.platform_sku_id ? h("div", {}, h("span", { class: "muted small" }, t("mappings.platform_sku_id"), " "), h("span", { class: "mono" }, m.platform_sku_id)) : null,
                      m.merchant_sku ? h("div", {}, h("span", { class: "muted small" }, t("mappings.merchant_sku"), " "), h("span", { class: "mono" }, m.merchant_sku)) : null,
                    ),
                    h("td", {}, h("strong", { class: "sku" }, m.sku)),
                    h("td", { class: "hide-phone muted" }, formatTime(m.created_at)),
                    h(
                      "td",
                      { class: "actions" },
                      write
                        ? confirmButton(t("mappings.delete"), t("mappings.delete_confirm"), async () => {
                            try {
                              await call("DELETE", `/api/v1/sku-mappings/${encodeURIComponent(m.id)}`);
                              toast(t("mappings.deleted_toast"), "ok");
                              load();
                            } catch (e) {
                              toast(describeError(e), "error");
                            }
                          })
                        : null,
                    ),
                  ),
                ),
              ),
            )
          : empty(t("mappings.empty")),
      );
    } catch (e) {
      if (alive) clear(list, errorState(e, load));
    }
  }
  clear(main, pageHeader(t("nav.mappings")), write ? addMappingCard(load) : null, list);
  load();
  return {
    onEvent() {},
    dispose: () => {
      alive = false;
    },
  };
}
