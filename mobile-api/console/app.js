// The console's entry point: boot, sign-in, the shell, hash routing and the live event stream.
//
// The pages are the modules listed in /assets/pages/index.json (generated from the files in
// pages/). Each exports `page`: { route, permission, nav: { labelKey, icon, order, bar }, home?,
// render(main, ctx) → { onEvent(event), dispose() } }. The navigation shows the pages whose
// permission GET /api/v1/me lists; the hub checks every call regardless.
import { EventStream, get, login, logout, onSessionEnd, resume, savedTenant, session } from "./api.js";
import { applyStatic, loadI18n, onLangChange, t, toggleLang } from "./i18n.js";
import { clear, describeError, errorState, h, roleName } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
let pages = []; // the page modules' `page`, in nav order
let me = null; // GET /api/v1/me of the signed-in user
let current = null;
let stream = null;

const can = (permission) => !!me?.permissions?.includes(permission);
const findPage = (route) => pages.find((p) => p.route === route);

async function loadPages() {
  const resp = await fetch("/assets/pages/index.json");
  const urls = await resp.json();
  const modules = await Promise.all(urls.map((url) => import(url)));
  pages = modules.map((m) => m.page).sort((a, b) => a.nav.order - b.nav.order);
}

function icon(spec) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", spec.d);
  if (spec.evenodd) path.setAttribute("fill-rule", "evenodd");
  svg.append(path);
  return svg;
}

// One link per page, hidden when the user lacks its permission. On a phone the pages marked
// `bar` sit in the bottom bar and the others in the "more" menu; a desktop lists them all.
function buildNav() {
  for (const a of $("nav").querySelectorAll("a[data-page]")) a.remove();
  const bar = [];
  const more = [];
  for (const p of pages) {
    const a = h(
      "a",
      { href: "#/" + p.route, dataset: { page: p.route }, hidden: !can(p.permission) },
      p.nav.icon ? icon(p.nav.icon) : null,
      h("span", { dataset: { i18n: p.nav.labelKey } }, t(p.nav.labelKey)),
    );
    (p.nav.bar ? bar : more).push(a);
  }
  $("nav-more").before(...bar);
  $("nav-more-panel").append(...more);
  $("nav-more").hidden = !more.some((a) => !a.hidden);
}

// The phone's "more" menu: the links that do not fit in the bottom bar.
function setMoreOpen(open) {
  $("nav").classList.toggle("more-open", open);
  $("nav-more").setAttribute("aria-expanded", String(open));
}

// The first page (in nav order) that claims to be this user's home, else the first they may
// open (warehouse staff land on their stock, everyone else on the dashboard).
function defaultPage() {
  const allowed = pages.filter((p) => can(p.permission));
  return (allowed.find((p) => p.home?.(me)) || allowed[0] || pages[0])?.route;
}

function setLive(state) {
  const live = $("live");
  live.dataset.state = state;
  const [key, text] =
    state === "live" ? ["live.on", t("live.on")] : state === "retry" ? ["live.retry", t("live.retry")] : ["live.off", t("live.off")];
  $("live-text").dataset.i18n = key;
  $("live-text").textContent = text;
}

function route() {
  const claims = session();
  if (!claims || !me) return;
  const name = location.hash.replace(/^#\/?/, "").split("?")[0];
  const page = findPage(name) || findPage(defaultPage());
  if (page.route !== name) {
    history.replaceState(null, "", "#/" + page.route);
  }
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === page.route) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  $("nav-more").classList.toggle("current", !!$("nav-more-panel").querySelector(`a[data-page="${page.route}"]`));
  setMoreOpen(false);
  current?.dispose();
  current = null;
  const main = $("main");
  main.dataset.page = page.route;
  if (!can(page.permission)) {
    clear(main, errorState({ status: 403 }));
    return;
  }
  current = page.render(main, { me, can });
}

// One event from the stream. `reset` (the hub had already trimmed where the stream resumed,
// so events were lost): the current page renders again, fetching all its data; its filters
// live in the page module and stay.
function onEvent(ev) {
  if (ev.kind === "reset") route();
  else current?.onEvent(ev);
}

function showWho(claims) {
  const roles = (claims.roles || []).map(roleName).join(" · ");
  clear($("whoami"), h("strong", {}, claims.preferred_username || claims.sub), " ", h("span", { class: "muted" }, roles));
}

// Signed in: what the credential may do decides the navigation, then the page.
async function showShell(claims) {
  try {
    me = await get("/api/v1/me");
  } catch (err) {
    if (session()) showLogin(describeError(err));
    return;
  }
  $("boot").hidden = true;
  $("login").hidden = true;
  $("shell").hidden = false;
  showWho(claims);
  buildNav();
  stream?.stop();
  stream = new EventStream(onEvent, setLive);
  stream.start();
  route();
}

function showLogin(message) {
  stream?.stop();
  stream = null;
  me = null;
  current?.dispose();
  current = null;
  clear($("main"));
  $("boot").hidden = true;
  $("shell").hidden = true;
  $("login").hidden = false;
  const error = $("login-error");
  error.hidden = !message;
  error.textContent = message || "";
  $("login-password").value = "";
  const tenant = $("login-tenant");
  if (!tenant.value) tenant.value = savedTenant();
  (tenant.value ? $("login-username") : tenant).focus();
}

function loginMessage(err) {
  if (err.status === 401) return t("login.bad_credentials");
  if (err.status === 429) return t("error.throttled");
  if (err.status === 400) return t("login.incomplete");
  if (err instanceof TypeError) return t("error.network");
  return err.message || String(err);
}

async function onLogin(e) {
  e.preventDefault();
  const tenant = $("login-tenant").value.trim();
  const username = $("login-username").value.trim();
  const password = $("login-password").value;
  const error = $("login-error");
  if (!tenant || !username || !password) {
    error.textContent = t("login.incomplete");
    error.hidden = false;
    return;
  }
  const submit = $("login-submit");
  submit.disabled = true;
  submit.dataset.i18n = "login.submitting";
  submit.textContent = t("login.submitting");
  try {
    const claims = await login(tenant, username, password);
    $("login-password").value = "";
    error.hidden = true;
    await showShell(claims);
  } catch (err) {
    error.textContent = loginMessage(err);
    error.hidden = false;
    $("login-password").select();
  } finally {
    submit.disabled = false;
    submit.dataset.i18n = "login.submit";
    submit.textContent = t("login.submit");
  }
}

async function boot() {
  const loadingPages = loadPages();
  try {
    await loadI18n();
  } catch {
    // Without the table the keys are shown; still better than a blank page.
  }
  try {
    await loadingPages;
  } catch (err) {
    clear($("boot"), errorState(err, () => location.reload()));
    return;
  }
  applyStatic(document);
  $("login-form").addEventListener("submit", onLogin);
  for (const b of document.querySelectorAll("[data-lang-toggle]")) b.addEventListener("click", toggleLang);
  $("logout").addEventListener("click", () => logout());
  $("nav-more").addEventListener("click", (e) => {
    e.stopPropagation();
    setMoreOpen(!$("nav").classList.contains("more-open"));
  });
  // Any other click (a link in the menu included) closes the menu.
  document.addEventListener("click", () => setMoreOpen(false));
  onSessionEnd((reason) => showLogin(reason === "expired" ? t("login.expired") : null));
  onLangChange(() => {
    const claims = session();
    if (claims && me && !$("shell").hidden) {
      showWho(claims);
      route();
    }
  });
  window.addEventListener("hashchange", route);
  const claims = await resume();
  if (claims) await showShell(claims);
  else showLogin();
}

// Counted (and logged) so a browser test can assert that a session ran without a script error
// or a Content-Security-Policy violation.
window.xtProblems = [];
window.addEventListener("error", (e) => window.xtProblems.push("error: " + e.message));
window.addEventListener("unhandledrejection", (e) => window.xtProblems.push("rejection: " + (e.reason?.message || e.reason)));
document.addEventListener("securitypolicyviolation", (e) => window.xtProblems.push("csp: " + e.violatedDirective + " " + e.blockedURI));

boot();
