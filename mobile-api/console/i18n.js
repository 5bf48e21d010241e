// The one translation table (i18n.json) and the chosen language. Every visible text goes
// through t() with a literal key in scripts, or a data-i18n attribute in index.html, so a Rust test can check that
// every used key exists in both languages.

const STORAGE_KEY = "xt.lang";
export const LANGS = ["zh-CN", "en"];
let table = {};
let lang = "zh-CN";
const listeners = [];

export async function loadI18n() {
  const resp = await fetch("/assets/i18n.json");
  table = await resp.json();
  const saved = localStorage.getItem(STORAGE_KEY);
  lang = LANGS.includes(saved) ? saved : "zh-CN";
  document.documentElement.lang = lang;
}

export function currentLang() {
  return lang;
}

export function setLang(next) {
  lang = LANGS.includes(next) ? next : "zh-CN";
  localStorage.setItem(STORAGE_KEY, lang);
  document.documentElement.lang = lang;
  applyStatic(document);
  for (const f of listeners) f(lang);
}

export function toggleLang() {
  setLang(lang === "zh-CN" ? "en" : "zh-CN");
}

export function onLangChange(f) {
  listeners.push(f);
}

// The text for a key, with {name} placeholders filled from vars.
export function t(key, vars) {
  let text = table[lang]?.[key] ?? table["zh-CN"]?.[key] ?? key;
  if (vars) {
    for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`{${k}}`, String(v));
  }
  return text;
}

// Fills data-i18n (text), data-i18n-placeholder and data-i18n-title under root.
export function applyStatic(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nTitle));
  }
  document.title = t("app.title");
}

const numberFormats = new Map();
export function formatNumber(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  let f = numberFormats.get(lang);
  if (!f) {
    f = new Intl.NumberFormat(lang);
    numberFormats.set(lang, f);
  }
  return f.format(n);
}

// A UTC timestamp from the API shown in the browser's own time zone.
export function formatTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(lang, { dateStyle: "short", timeStyle: "medium" }).format(d);
}

export function formatClock(iso) {
  const d = new Date(iso);
  return new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit" }).format(d);
}

// "3 minutes ago" in the chosen language.
export function formatAgo(iso) {
  if (!iso) return t("common.never");
  const secs = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  const rtf = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
  const abs = Math.abs(secs);
  if (abs < 60) return rtf.format(secs, "second");
  if (abs < 3600) return rtf.format(Math.round(secs / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(secs / 3600), "hour");
  return rtf.format(Math.round(secs / 86400), "day");
}

export function formatDuration(secs) {
  if (secs === null || secs === undefined) return "–";
  if (secs < 60) return t("unit.secs", { n: formatNumber(Math.round(secs)) });
  if (secs < 3600) return t("unit.mins", { n: formatNumber(Math.round(secs / 60)) });
  return t("unit.hours", { n: formatNumber(Math.round(secs / 360) / 10) });
}

// Money from the API ({minor, currency}) in the currency's own decimals.
const moneyFormats = new Map();
export function formatMoney(m) {
  if (!m || typeof m.minor !== "number") return "—";
  const key = lang + "\n" + m.currency;
  let f = moneyFormats.get(key);
  if (!f) {
    try {
      f = new Intl.NumberFormat(lang, { style: "currency", currency: m.currency });
    } catch {
      f = null;
    }
    moneyFormats.set(key, f);
  }
  if (!f) return `${m.minor} ${m.currency}`;
  const digits = f.resolvedOptions().maximumFractionDigits;
  return f.format(m.minor / 10 ** digits);
}
