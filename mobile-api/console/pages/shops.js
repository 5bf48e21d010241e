// 店铺: the tenant's sales channels, binding a new one with its platform's credentials, turning
// capture on and off, and each shop's capture health and counters, kept current from
// `orders_changed` and `capture_error` events. Secrets go to the hub and never come back: the
// page shows only whether each one is set.
import { call, get } from "../api.js";
import { formatAgo, formatNumber, formatTime, t } from "../i18n.js";
import { table } from "../list.js";
import { lagText, lastPollText, shopState, stateDot } from "../shop-health.js";
import { NONE, PLATFORMS, atMostEvery, badge, clear, confirmButton, describeError, empty, errorState, foldable, h, loading, pageHeader, platformName, toast } from "../ui.js";

export const page = {
  route: "shops",
  permission: "shops:read",
  nav: {
    labelKey: "nav.shops",
    order: 40,
    bar: true,
    icon: {
      d: "M4 3h16l1.5 6a3 3 0 0 1-5.2 2.1 3.4 3.4 0 0 1-4.3.9 3.4 3.4 0 0 1-4.3-.9A3 3 0 0 1 2.5 9zm1 10v8h14v-8a4.6 4.6 0 0 1-3-.3 5.2 5.2 0 0 1-4 .8 5.2 5.2 0 0 1-4-.8 4.6 4.6 0 0 1-3 .3m5 2.5h4V21h-4z",
      evenodd: true,
    },
  },
  render: shopsPage,
};

// Re-fetch at most this often while events arrive.
const RELOAD_MS = 1500;
// A token that expires within this many days is flagged.
const TOKEN_WARN_DAYS = 7;

// The credential fields of each platform (mobile-api/src/shops.rs `credential_fields`): the
// public id first (shown masked afterwards), then the secrets.
const CREDENTIAL_FIELDS = {
  taobao: ["app_key", "app_secret", "session"],
  tmall: ["app_key", "app_secret", "session"],
  jd: ["app_key", "app_secret", "access_token"],
  shopify: ["shop_domain", "access_token", "webhook_secret"],
  woocommerce: ["consumer_key", "consumer_secret", "webhook_secret"],
};

function credentialLabel(field) {
  return (
    {
      app_key: t("shops.cred.app_key"),
      app_secret: t("shops.cred.app_secret"),
      session: t("shops.cred.session"),
      access_token: t("shops.cred.access_token"),
      shop_domain: t("shops.cred.shop_domain"),
      webhook_secret: t("shops.cred.webhook_secret"),
      consumer_key: t("shops.cred.consumer_key"),
      consumer_secret: t("shops.cred.consumer_secret"),
    }[field] ?? field
  );
}

// Where each platform's API usually is, offered as the placeholder.
const URL_HINTS = {
  taobao: "https://eco.taobao.com/router/rest",
  tmall: "https://eco.taobao.com/router/rest",
  jd: "https://api.jd.com/routerjson",
  shopify: "https://your-shop.myshopify.com",
  woocommerce: "https://your-site.example/wp-json",
};

function count(n) {
  return n === null || n === undefined ? NONE : formatNumber(n);
}

function tokenFact(iso) {
  if (!iso) return NONE;
  const left = new Date(iso).getTime() - Date.now();
  if (left < 0) return h("span", { class: "text-error" }, t("shops.token_expired_at", { time: formatTime(iso) }));
  if (left < TOKEN_WARN_DAYS * 86400_000) return h("span", { class: "text-warn" }, t("shops.token_expires_soon", { time: formatAgo(iso) }));
  return formatTime(iso);
}

function fact(label, value, title) {
  return h("div", {}, h("dt", {}, label), h("dd", { title }, value));
}

function credentialsView(shop) {
  const fields = CREDENTIAL_FIELDS[shop.platform] || Object.keys(shop.credentials || {});
  return h(
    "dl",
    { class: "facts creds" },
    fields.map((f) => {
      const v = shop.credentials?.[f];
      const shown =
        v && typeof v === "object"
          ? v.configured
            ? badge(t("shops.secret_set"), "ok")
            : badge(t("shops.secret_unset"), "warn")
          : h("code", {}, v || NONE);
      return h("div", { dataset: { cred: f } }, h("dt", {}, credentialLabel(f)), h("dd", {}, shown));
    }),
  );
}

function captureErrors(shop) {
  const box = h("div", { class: "capture-errors" });
  const button = h("button", { class: "btn btn-small", type: "button" }, t("shops.show_capture_errors"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    clear(box, loading());
    try {
      const { errors } = await get(`/api/v1/shops/${encodeURIComponent(shop.id)}/capture-errors`);
      clear(
        box,
        errors.length
          ? table(
              [
                { key: "at", label: t("shops.error_at"), cls: "nowrap", cell: (e) => formatTime(e.at) },
                { key: "order_no", label: t("orders.order_no"), cell: (e) => e.order_no || NONE },
                {
                  key: "reason",
                  label: t("shops.error_reason"),
                  cell: (e) => [e.reason, e.raw ? h("details", {}, h("summary", { class: "small muted" }, t("shops.raw_payload")), h("pre", { class: "raw" }, e.raw)) : null],
                },
              ],
              errors,
              { cls: "compact" },
            )
          : h("p", { class: "muted small" }, t("shops.no_capture_errors")),
      );
    } catch (e) {
      clear(box, h("p", { class: "text-error small" }, describeError(e)));
    } finally {
      button.disabled = false;
    }
  });
  return [button, box];
}

// Days a backfill may reach back, offered as choices.
const BACKFILL_DAYS = [1, 7, 30];

// Capture again every order modified in the last n days (the hub schedules it).
function backfillControl(shop) {
  const days = h(
    "select",
    { class: "backfill-days", "aria-label": t("shops.backfill_range") },
    BACKFILL_DAYS.map((n) => h("option", { value: String(n), selected: n === 7 }, t("shops.backfill_days", { n }))),
  );
  const button = h("button", { class: "btn btn-small backfill", type: "button" }, t("shops.backfill"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    const to = new Date();
    const from = new Date(to.getTime() - Number(days.value) * 86400_000);
    try {
      await call("POST", `/api/v1/shops/${encodeURIComponent(shop.id)}/backfill`, { from: from.toISOString(), to: to.toISOString() });
      toast(t("shops.backfill_toast", { name: shop.name }), "ok");
    } catch (e) {
      toast(describeError(e), "error");
    } finally {
      button.disabled = false;
    }
  });
  return h("div", { class: "backfill-control" }, days, button);
}

// The parts of a card that capture changes: health, counters, last errors. Replaced in place
// when events arrive, so an open capture-errors box or a chosen backfill range stays.
function shopLive(shop) {
  const hl = shop.health || {};
  return h(
    "div",
    { class: "shop-live" },
    h(
      "dl",
      { class: "facts" },
      fact(t("shops.last_poll"), lastPollText(hl.last_poll_ok_at), hl.last_poll_ok_at ? formatTime(hl.last_poll_ok_at) : null),
      fact(t("shops.lag"), lagText(hl.capture_lag_ms)),
      fact(t("shops.errors"), count(hl.error_count)),
      fact(
        t("shops.refunds_last_poll"),
        lastPollText(hl.refunds_last_poll_ok_at),
        hl.refunds_last_poll_ok_at ? formatTime(hl.refunds_last_poll_ok_at) : null,
      ),
      fact(t("shops.refunds_errors"), count(hl.refunds_error_count)),
      fact(t("shops.token_expires"), tokenFact(hl.token_expires_at)),
      fact(
        t("shops.rate_limited_until"),
        hl.rate_limited_until && new Date(hl.rate_limited_until).getTime() > Date.now() ? formatTime(hl.rate_limited_until) : NONE,
      ),
      fact(t("shops.orders"), count(shop.orders)),
      fact(t("shops.held"), count(shop.held)),
      fact(t("shops.capture_errors"), count(shop.capture_errors)),
    ),
    hl.last_error ? h("p", { class: "alert alert-error small last-error" }, t("shops.last_error"), " ", hl.last_error) : null,
    hl.refunds_last_error
      ? h("p", { class: "alert alert-error small refunds-last-error" }, t("shops.refunds_last_error"), " ", hl.refunds_last_error)
      : null,
  );
}

function shopCard(shop, admin, reload) {
  const [state] = shopState(shop);
  const patch = async (enabled) => {
    try {
      await call("PATCH", `/api/v1/shops/${encodeURIComponent(shop.id)}`, { enabled });
      toast(enabled ? t("shops.enabled_toast", { name: shop.name }) : t("shops.disabled_toast", { name: shop.name }), "ok");
      reload();
    } catch (e) {
      toast(describeError(e), "error");
    }
  };
  const toggle = !admin
    ? null
    : shop.enabled
      ? confirmButton(t("shops.disable"), t("shops.disable_confirm"), () => patch(false))
      : h("button", { class: "btn btn-small btn-primary", type: "button", onclick: () => patch(true) }, t("shops.enable"));
  const [errorsButton, errorsBox] = captureErrors(shop);
  return h(
    "section",
    { class: "card shop", dataset: { shop: shop.id, enabled: String(shop.enabled), state } },
    h(
      "div",
      { class: "agent-head" },
      h(
        "div",
        {},
        h("h2", { class: "card-title" }, shop.name),
        h("div", { class: "muted small" }, platformName(shop.platform), " · ", h("span", { class: "mono" }, shop.id)),
        h("div", { class: "muted small url" }, shop.api_base_url),
      ),
      stateDot(shop),
    ),
    shopLive(shop),
    credentialsView(shop),
    h("div", { class: "card-actions" }, admin && shop.enabled ? backfillControl(shop) : null, errorsButton, toggle),
    errorsBox,
  );
}

function addShopCard(onCreated) {
  const platform = h(
    "select",
    { id: "shop-platform" },
    PLATFORMS.map((p) => h("option", { value: p }, platformName(p))),
  );
  const name = h("input", { id: "shop-name", autocomplete: "off", required: true, maxlength: "64", placeholder: t("shops.name_placeholder") });
  const url = h("input", { id: "shop-url", type: "url", autocomplete: "off", required: true, inputmode: "url" });
  const creds = h("div", { class: "form-grid creds-grid" });
  const error = h("p", { class: "alert alert-error", role: "alert", hidden: true });
  const submit = h("button", { class: "btn btn-primary", type: "submit", id: "shop-submit" }, t("shops.add"));

  function fields() {
    const p = platform.value;
    url.placeholder = URL_HINTS[p] || "";
    clear(
      creds,
      CREDENTIAL_FIELDS[p].map((f, i) =>
        h(
          "label",
          {},
          h("span", {}, credentialLabel(f)),
          h("input", {
            name: f,
            id: "shop-cred-" + f,
            type: i === 0 ? "text" : "password",
            autocomplete: i === 0 ? "off" : "new-password",
            spellcheck: "false",
            required: true,
          }),
        ),
      ),
    );
  }
  platform.addEventListener("change", fields);
  fields();

  const form = h(
    "form",
    { class: "form-grid", id: "shop-form" },
    h("label", {}, h("span", {}, t("shops.platform")), platform),
    h("label", {}, h("span", {}, t("shops.name")), name),
    h("label", { class: "wide" }, h("span", {}, t("shops.api_base_url")), url),
    h("fieldset", { class: "checks cred-set" }, h("legend", {}, t("shops.credentials")), creds),
    h("div", { class: "form-actions" }, submit),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const credentials = {};
    for (const input of creds.querySelectorAll("input")) credentials[input.name] = input.value.trim();
    const missing = !name.value.trim() || !url.value.trim() || Object.values(credentials).some((v) => !v);
    if (missing) {
      error.textContent = t("shops.incomplete");
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    try {
      const shop = await call("POST", "/api/v1/shops", {
        platform: platform.value,
        name: name.value.trim(),
        api_base_url: url.value.trim(),
        credentials,
      });
      toast(t("shops.created_toast", { name: shop.name }), "ok");
      // The secrets leave the page as soon as the hub has them.
      form.reset();
      fields();
      // Folded again, so the new shop's card is what the page shows next.
      form.closest("details").open = false;
      onCreated();
    } catch (err) {
      error.textContent = describeError(err);
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  return foldable("shop-new-toggle", t("shops.new"), false, h("p", { class: "muted" }, t("shops.help")), form, error);
}

export function shopsPage(main, ctx) {
  const list = h("div", { class: "page-body", id: "shops-list" }, loading());
  const admin = ctx.can("shops:write");
  let alive = true;
  let shown = null; // the shops as rendered, by id
  async function load() {
    try {
      const { shops } = await get("/api/v1/shops");
      if (!alive) return;
      // Same shops, same names and switches: only the live parts change.
      const same =
        shown &&
        shops.length === shown.size &&
        shops.every((s) => shown.has(s.id) && shown.get(s.id).name === s.name && shown.get(s.id).enabled === s.enabled && shown.get(s.id).api_base_url === s.api_base_url);
      shown = new Map(shops.map((s) => [s.id, s]));
      if (same) {
        for (const s of shops) {
          const card = list.querySelector(`[data-shop="${CSS.escape(s.id)}"]`);
          card.dataset.state = shopState(s)[0];
          card.querySelector(".agent-head .status-dot").replaceWith(stateDot(s));
          card.querySelector(".shop-live").replaceWith(shopLive(s));
        }
        return;
      }
      clear(list, shops.length ? h("div", { class: "agent-grid" }, shops.map((s) => shopCard(s, admin, load))) : empty(t("shops.empty")));
    } catch (e) {
      if (alive) clear(list, errorState(e, load));
    }
  }
  clear(main, pageHeader(t("nav.shops")), admin ? addShopCard(load) : null, list);
  load();
  const reload = atMostEvery(RELOAD_MS, load);
  return {
    // Orders captured or changed, or a payload kept as a capture error: the counters move.
    onEvent: (ev) => {
      if (ev.kind === "orders_changed" || ev.kind === "capture_error" || String(ev.kind || "").startsWith("shop")) reload();
    },
    dispose: () => {
      alive = false;
    },
  };
}
