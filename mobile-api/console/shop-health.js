// How a shop's order capture is doing, in words and a coloured dot: shared by the shops page
// and the dashboard's shop rows.
import { formatAgo, formatDuration, t } from "./i18n.js";
import { NONE, h } from "./ui.js";

// ok / warn / error / idle / off, and the words for it.
export function shopState(shop) {
  const hl = shop.health || {};
  if (!shop.enabled) return ["off", t("shops.state.disabled")];
  const now = Date.now();
  if (hl.rate_limited_until && new Date(hl.rate_limited_until).getTime() > now) return ["warn", t("shops.state.rate_limited")];
  if (hl.token_expires_at && new Date(hl.token_expires_at).getTime() < now) return ["error", t("shops.state.token_expired")];
  if (hl.error_count && hl.last_error) return ["error", t("shops.state.errors")];
  if (hl.refunds_error_count && hl.refunds_last_error) return ["warn", t("shops.state.refunds_failing")];
  if (!hl.last_poll_ok_at) return ["idle", t("shops.state.not_started")];
  return ["ok", t("shops.state.ok")];
}

export function stateDot(shop) {
  const [state, text] = shopState(shop);
  return h("span", { class: "status-dot", dataset: { state } }, h("span", { class: "dot" }), text);
}

export function lagText(ms) {
  return ms === null || ms === undefined ? NONE : formatDuration(ms / 1000);
}

export function lastPollText(iso) {
  return iso ? formatAgo(iso) : t("shops.not_started");
}
