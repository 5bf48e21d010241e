// 发货确认 (phone first): warehouse staff list the delivery orders of their warehouses waiting
// to be shipped, open one (lines, receiver, memos) and confirm it shipped with a carrier and a
// tracking number — typed, pasted, read by a scanner acting as a keyboard (its Enter submits),
// or read by the camera where the browser has a barcode reader — in one parcel or several, all
// lines or part of them; or report why it cannot be shipped. The hub shows staff only their
// own warehouses' delivery orders.
import { call, get, session } from "../api.js";
import { CARRIERS, carrierName, deliveryBadge, exceptionKindName, isFulfilmentEvent, linesText, packagesTable } from "../fulfilment-detail.js";
import { formatNumber, formatTime, t } from "../i18n.js";
import { pagedList, table } from "../list.js";
import { NONE, atMostEvery, clear, describeError, errorState, h, loading, pageHeader, toast } from "../ui.js";

export const page = {
  route: "ship",
  permission: "shipments:write",
  nav: {
    labelKey: "nav.ship",
    order: 25,
    bar: true,
    icon: { d: "M2 5h12v9h1.5l1-4H20l2 4v4h-2a2.5 2.5 0 0 1-5 0H9a2.5 2.5 0 0 1-5 0H2zm15.3 7h2.9l-1-2h-1.4zM6.5 16.8a.8.8 0 1 0 0 1.5.8.8 0 0 0 0-1.5m11 0a.8.8 0 1 0 0 1.5.8.8 0 0 0 0-1.5" },
  },
  render: shipPage,
};

const PAGE_ROWS = 50;
// The largest page GET /api/v1/deliveries answers (DELIVERIES_LIMIT_MAX).
const LIMIT_MAX = 200;
const REFRESH_MS = 1000;
// What a tracking number may be (mobile-api TRACKING_NO_BYTES_MAX and its characters).
const TRACKING = /^[A-Za-z0-9-]{1,40}$/;
// How often the camera's picture is searched for a barcode.
const SCAN_INTERVAL_MS = 250;
// Barcode formats waybills use, asked of the browser's reader when it knows them.
const SCAN_FORMATS = ["code_128", "code_39", "code_93", "codabar", "itf", "ean_13", "qr_code"];
// A waybill number's prefix that names its carrier.
const CARRIER_PREFIXES = [
  ["SF", "SF"],
  ["JT", "JTSD"],
  ["YT", "YTO"],
  ["JD", "JD"],
];
const EXCEPTION_KINDS = ["out_of_stock", "address_problem", "damaged", "other"];

// The list's filters, kept across page switches.
const NO_FILTER = { warehouse: "", state: "pending" };
const filter = { ...NO_FILTER };

// Scanners and pastes bring spaces and line ends along; a waybill number has none.
const clean = (text) => String(text || "").replace(/\s+/g, "");

function canScan() {
  return "BarcodeDetector" in window && !!navigator.mediaDevices?.getUserMedia;
}

// A new id for one confirmation: a retry after a lost answer sends the same and ships once.
function confirmationId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return "c-" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// The camera, full screen, until a readable waybill number is seen (given to onValue) or the
// person closes it. Returns stop().
function openScanner(onValue) {
  let stream = null;
  let timer = null;
  let stopped = false;
  const video = h("video", { id: "ship-scan-video", playsinline: true, muted: true, autoplay: true });
  const status = h("p", { id: "ship-scan-status" }, t("ship.scan_hint"));
  const closeButton = h("button", { class: "btn", type: "button", id: "ship-scan-close" }, t("common.close"));
  const overlay = h("div", { class: "scanner", role: "dialog", "aria-label": t("ship.scan") }, video, status, closeButton);
  const onKey = (e) => {
    if (e.key === "Escape") stop();
  };
  function stop() {
    stopped = true;
    clearTimeout(timer);
    for (const track of stream?.getTracks() || []) track.stop();
    overlay.remove();
    document.removeEventListener("keydown", onKey);
  }
  closeButton.addEventListener("click", stop);
  document.addEventListener("keydown", onKey);
  document.body.append(overlay);
  (async () => {
    try {
      const supported = await window.BarcodeDetector.getSupportedFormats();
      const formats = SCAN_FORMATS.filter((f) => supported.includes(f));
      const detector = new window.BarcodeDetector(formats.length ? { formats } : undefined);
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      if (stopped) {
        for (const track of stream.getTracks()) track.stop();
        return;
      }
      video.srcObject = stream;
      await video.play();
      const tick = async () => {
        if (stopped) return;
        try {
          const codes = await detector.detect(video);
          const value = codes.map((c) => clean(c.rawValue)).find((v) => TRACKING.test(v));
          if (value) {
            stop();
            onValue(value);
            return;
          }
        } catch {
          // A frame the reader could not use; the next one may do.
        }
        timer = setTimeout(tick, SCAN_INTERVAL_MS);
      };
      tick();
    } catch {
      if (!stopped) status.textContent = t("ship.camera_failed");
    }
  })();
  return stop;
}

// One parcel's fields: carrier, tracking number (with the camera where there is one) and, when
// asked, how many of each line it holds.
function packageBlock(index, lines, startScan) {
  const carrier = h(
    "select",
    { id: "ship-carrier-" + index, class: "ship-carrier" },
    CARRIERS.map((c) => h("option", { value: c }, `${carrierName(c)} (${c})`)),
  );
  let carrierChosen = false;
  carrier.addEventListener("change", () => {
    carrierChosen = true;
  });
  const tracking = h("input", {
    id: "ship-tracking-" + index,
    class: "ship-tracking",
    autocomplete: "off",
    autocapitalize: "characters",
    spellcheck: "false",
    enterkeyhint: "done",
    maxlength: "64",
    placeholder: t("ship.tracking_placeholder"),
    "aria-label": t("ship.tracking_no"),
  });
  // A waybill number that names its carrier chooses it, unless the person already did.
  const guess = () => {
    const value = clean(tracking.value).toUpperCase();
    const found = CARRIER_PREFIXES.find(([prefix]) => value.startsWith(prefix));
    if (found && !carrierChosen) carrier.value = found[1];
  };
  tracking.addEventListener("input", guess);
  tracking.addEventListener("change", () => {
    tracking.value = clean(tracking.value);
  });
  const scan = h("button", { class: "btn", type: "button", id: "ship-scan-" + index, hidden: !canScan() }, t("ship.scan"));
  scan.addEventListener("click", () =>
    startScan((value) => {
      tracking.value = value;
      guess();
      tracking.focus();
    }),
  );
  const quantities = lines.map((l) =>
    h("input", {
      type: "number",
      class: "qty-input",
      min: "0",
      max: String(l.quantity - l.shipped),
      step: "1",
      inputmode: "numeric",
      value: String(index === 0 ? l.quantity - l.shipped : 0),
      dataset: { sku: l.sku },
      "aria-label": t("ship.quantity_of", { sku: l.sku }),
    }),
  );
  const qtyBox = h(
    "div",
    { class: "package-lines", hidden: true },
    lines.map((l, i) => h("label", { class: "check" }, h("span", { class: "mono" }, l.sku), quantities[i], h("span", { class: "muted small" }, "/ " + formatNumber(l.quantity - l.shipped)))),
  );
  const el = h(
    "div",
    { class: "package", dataset: { package: String(index) } },
    h("div", { class: "muted small" }, t("ship.package_n", { n: index + 1 })),
    h("label", {}, h("span", {}, t("ship.carrier")), carrier),
    h("div", { class: "tracking-row" }, tracking, scan),
    qtyBox,
  );
  return {
    el,
    tracking,
    showLines(show) {
      qtyBox.hidden = !show;
    },
    value(withLines) {
      const p = { carrier: carrier.value, tracking_no: clean(tracking.value) };
      if (withLines) {
        p.lines = quantities.map((q) => ({ sku: q.dataset.sku, quantity: Number(q.value || 0) })).filter((l) => l.quantity > 0);
      }
      return p;
    },
  };
}

function confirmForm(d, startScan, done) {
  const lines = (d.lines || []).filter((l) => l.quantity > l.shipped);
  const blocks = [];
  const box = h("div", { class: "packages-box" });
  const partial = h("input", { type: "checkbox", id: "ship-partial" });
  const add = h("button", { class: "btn btn-small", type: "button", id: "ship-add-package" }, t("ship.add_package"));
  const error = h("p", { class: "alert alert-error", role: "alert", hidden: true, id: "ship-error" });
  const submit = h("button", { class: "btn btn-primary btn-block", type: "submit", id: "ship-submit" }, t("ship.confirm"));
  let id = confirmationId();
  const several = () => blocks.length > 1 || partial.checked;
  const layout = () => {
    for (const b of blocks) b.showLines(several());
  };
  const addBlock = () => {
    const b = packageBlock(blocks.length, lines, startScan);
    // A scanner's Enter: on to the next empty waybill number, or submit when there is none.
    b.tracking.addEventListener("keydown", (e) => {
      if (e.key !== "Enter") return;
      e.preventDefault();
      const next = blocks.find((o) => o !== b && !clean(o.tracking.value));
      if (next) next.tracking.focus();
      else form.requestSubmit();
    });
    blocks.push(b);
    box.append(b.el);
    layout();
    return b;
  };
  add.addEventListener("click", () => addBlock().tracking.focus());
  partial.addEventListener("change", layout);
  const form = h(
    "form",
    { class: "confirm-form", id: "ship-form", novalidate: true },
    box,
    h("div", { class: "card-actions" }, h("label", { class: "check" }, partial, h("span", {}, t("ship.partial"))), add),
    error,
    submit,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const withLines = several();
    const packages = blocks.map((b) => b.value(withLines));
    const bad = packages.find((p) => !TRACKING.test(p.tracking_no));
    if (bad) {
      error.textContent = bad.tracking_no ? t("ship.bad_tracking") : t("ship.need_tracking");
      error.hidden = false;
      return;
    }
    if (withLines && packages.some((p) => !p.lines.length)) {
      error.textContent = t("ship.empty_package");
      error.hidden = false;
      return;
    }
    const body = withLines ? { packages, confirmation_id: id } : { ...packages[0], confirmation_id: id };
    submit.disabled = true;
    try {
      const after = await call("POST", `/api/v1/deliveries/${encodeURIComponent(d.delivery_no)}/confirm`, body);
      id = confirmationId();
      toast(t("ship.confirmed_toast", { no: d.delivery_no }), "ok");
      done(after);
    } catch (err) {
      error.textContent = describeError(err);
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  addBlock();
  setTimeout(() => blocks[0]?.tracking.focus(), 0);
  return form;
}

function exceptionForm(d, done) {
  const kind = h(
    "select",
    { id: "ship-exception-kind" },
    EXCEPTION_KINDS.map((k) => h("option", { value: k }, exceptionKindName(k))),
  );
  const reason = h("input", { id: "ship-exception-reason", maxlength: "200", autocomplete: "off", placeholder: t("ship.exception_reason") });
  const submit = h("button", { class: "btn btn-danger", type: "submit", id: "ship-exception-submit" }, t("ship.report"));
  const form = h("form", { class: "form-grid", id: "ship-exception-form" }, h("label", {}, h("span", {}, t("ship.exception_kind")), kind), h("label", {}, h("span", {}, t("ship.exception_reason")), reason), h("div", { class: "form-actions" }, submit));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { kind: kind.value };
    if (reason.value.trim()) body.reason = reason.value.trim();
    else if (kind.value === "other") {
      toast(t("ship.need_reason"), "error");
      reason.focus();
      return;
    }
    submit.disabled = true;
    try {
      const after = await call("POST", `/api/v1/deliveries/${encodeURIComponent(d.delivery_no)}/exception`, body);
      toast(t("ship.reported_toast", { no: d.delivery_no }), "ok");
      done(after);
    } catch (err) {
      toast(describeError(err), "error");
    } finally {
      submit.disabled = false;
    }
  });
  return h("details", { class: "exception-box" }, h("summary", { id: "ship-exception-toggle" }, t("ship.cannot_ship")), form);
}

function address(r) {
  return [r.province, r.city, r.district, r.address].filter(Boolean).join(" ");
}

function deliveryDetail(d, startScan, done) {
  const r = d.receiver || {};
  const open = d.state === "pending" || d.state === "partly_shipped";
  return [
    h(
      "section",
      { class: "detail-section" },
      h("div", { class: "detail-head" }, deliveryBadge(d.state), h("span", { class: "muted small" }, d.warehouse, " · ", formatTime(d.created_at))),
      h(
        "dl",
        { class: "facts receiver" },
        h("div", {}, h("dt", {}, t("orders.receiver_name")), h("dd", {}, r.name || NONE)),
        h("div", {}, h("dt", {}, t("orders.phone")), h("dd", {}, r.phone ? h("a", { href: "tel:" + r.phone }, r.phone) : NONE)),
        h("div", { class: "wide" }, h("dt", {}, t("orders.address")), h("dd", {}, address(r) || NONE)),
      ),
      d.buyer_memo ? h("p", { class: "alert alert-warn small" }, t("orders.buyer_memo"), "：", d.buyer_memo) : null,
      d.seller_memo ? h("p", { class: "alert alert-warn small" }, t("orders.seller_memo"), "：", d.seller_memo) : null,
    ),
    h(
      "section",
      { class: "detail-section" },
      h("h3", {}, t("ship.lines")),
      table(
        [
          { key: "sku", label: t("orders.sku"), cell: (l) => [h("strong", { class: "sku" }, l.sku), h("div", { class: "muted small" }, l.title || NONE)] },
          { key: "quantity", label: t("orders.quantity"), cls: "num qty", cell: (l) => formatNumber(l.quantity) },
          { key: "shipped", label: t("ship.shipped"), cls: "num", cell: (l) => formatNumber(l.shipped) },
        ],
        d.lines || [],
        { cls: "compact", rowAttrs: (l) => ({ dataset: { sku: l.sku } }) },
      ),
    ),
    d.packages?.length ? h("section", { class: "detail-section" }, h("h3", {}, t("ship.packages")), packagesTable(d.packages)) : null,
    open ? h("section", { class: "detail-section" }, h("h3", {}, t("ship.confirm_title")), confirmForm(d, startScan, done)) : null,
    open ? h("section", { class: "detail-section" }, exceptionForm(d, done)) : null,
  ];
}

const columns = () => [
  { key: "delivery_no", label: t("ship.delivery_no"), cell: (d) => [h("strong", { class: "mono" }, d.delivery_no), h("div", { class: "muted small" }, d.warehouse, " · ", formatTime(d.created_at))] },
  { key: "receiver", label: t("orders.receiver"), cell: (d) => [d.receiver?.name || NONE, h("div", { class: "muted small" }, [d.receiver?.city, d.receiver?.district].filter(Boolean).join(" "))] },
  {
    key: "lines",
    label: t("ship.lines"),
    cell: (d) => [linesText(d.lines), d.buyer_memo || d.seller_memo ? h("div", { class: "text-warn small" }, t("ship.has_memo")) : null],
  },
  { key: "state", label: t("ful.state"), cell: (d) => deliveryBadge(d.state) },
];

export function shipPage(main, ctx) {
  const mine = ctx.me?.warehouses || [];
  const count = h("span", { class: "muted", id: "ship-count" });
  const warehouse = h("select", { id: "ship-warehouse" }, h("option", { value: "" }, mine.length ? t("ship.my_warehouses") : t("ful.all_warehouses")), mine.map((w) => h("option", { value: w, selected: w === filter.warehouse }, w)));
  const state = h(
    "select",
    { id: "ship-state" },
    [
      ["pending", t("ful.delivery.pending")],
      ["partly_shipped", t("ful.delivery.partly_shipped")],
      ["exception", t("ful.delivery.exception")],
    ].map(([v, label]) => h("option", { value: v, selected: v === filter.state }, label)),
  );
  const form = h(
    "form",
    { class: "toolbar filters", id: "ship-filters" },
    h("label", {}, h("span", { class: "sr-only" }, t("ship.warehouse")), warehouse),
    h("label", {}, h("span", { class: "sr-only" }, t("ful.state")), state),
  );
  // The delivery order open, full screen on a phone.
  const content = h("div", { class: "drawer-body", id: "ship-detail" });
  const title = h("h2", { class: "card-title" }, t("ship.detail"));
  const closeButton = h("button", { class: "btn btn-ghost btn-small", type: "button", id: "ship-close", "aria-label": t("common.close") }, "✕ ", t("common.close"));
  const panel = h("aside", { class: "drawer", hidden: true, role: "dialog", "aria-label": t("ship.detail") }, h("div", { class: "drawer-head" }, title, closeButton), content);
  let stopScan = null;
  const startScan = (onValue) => {
    stopScan?.();
    stopScan = openScanner(onValue);
  };
  let generation = 0;
  let list = null;
  function close() {
    generation++;
    stopScan?.();
    panel.hidden = true;
  }
  closeButton.addEventListener("click", close);
  const done = () => {
    close();
    list.refresh();
  };
  async function openDelivery(no) {
    const mineNow = ++generation;
    panel.hidden = false;
    clear(content, loading());
    try {
      const d = await get(`/api/v1/deliveries/${encodeURIComponent(no)}`);
      if (mineNow !== generation) return;
      title.textContent = t("ship.detail_title", { no: d.delivery_no });
      panel.dataset.delivery = d.delivery_no;
      clear(content, deliveryDetail(d, startScan, done));
      panel.scrollTop = 0;
    } catch (e) {
      if (mineNow === generation) clear(content, errorState(e, () => openDelivery(no)));
    }
  }
  list = pagedList({
    columns: columns(),
    key: (d) => d.delivery_no,
    rowAttrs: (d) => ({
      class: "clickable",
      dataset: { delivery: d.delivery_no, state: d.state },
      tabindex: "0",
      onclick: () => openDelivery(d.delivery_no),
      onkeydown: (e) => {
        if (e.key === "Enter") openDelivery(d.delivery_no);
      },
    }),
    pageRows: PAGE_ROWS,
    limitMax: LIMIT_MAX,
    async fetchPage(cursor, limit) {
      const p = new URLSearchParams({ state: filter.state, limit: String(limit) });
      if (filter.warehouse) p.set("warehouse", filter.warehouse);
      if (cursor) p.set("cursor", cursor);
      const page = await get("/api/v1/deliveries?" + p);
      return { items: page.deliveries, next: page.next_cursor };
    },
    emptyText: () => (filter.state === "pending" ? t("ship.empty") : t("ship.no_match")),
    tbodyId: "ship-rows",
    wrap: "card card-flush",
    moreId: "ship-more",
    moreLabel: t("orders.more"),
    count,
  });
  clear(main, pageHeader(t("nav.ship"), count), form, list.el, panel);
  // Staff bound to warehouses pick among theirs; others among every configured one.
  if (!mine.length) {
    get("/api/v1/warehouses")
      .then(({ warehouses }) => {
        for (const w of warehouses) warehouse.append(h("option", { value: w.code, selected: w.code === filter.warehouse }, `${w.code} · ${w.name}`));
      })
      .catch(() => {});
  }
  for (const el of [warehouse, state]) {
    el.addEventListener("change", () => {
      Object.assign(filter, { warehouse: warehouse.value, state: state.value });
      list.load();
    });
  }
  form.addEventListener("submit", (e) => e.preventDefault());
  list.load();
  const refresh = atMostEvery(REFRESH_MS, list.refresh);
  return {
    onEvent(ev) {
      if (isFulfilmentEvent(ev)) refresh();
    },
    dispose() {
      list.dispose();
      close();
      if (!session()) Object.assign(filter, NO_FILTER);
    },
  };
}
