// The console's entry point: boot, sign-in, the shell, hash routing and the live event stream.
import { EventStream, login, logout, onSessionEnd, resume, savedTenant, session } from "./api.js";
import { usersPage, keysPage } from "./admin.js";
import { applyStatic, loadI18n, onLangChange, t, toggleLang } from "./i18n.js";
import { mappingsPage, ordersPage } from "./orders.js";
import { agentsPage, dashboardPage, stockPage } from "./pages.js";
import { shopsPage } from "./shops.js";
import { clear, errorState, h, roleName } from "./ui.js";

const ADMINS = ["owner", "admin"];
// Which roles see each page (none listed: everyone); the hub checks every call regardless.
const PAGES = {
  dashboard: { render: dashboardPage },
  orders: { render: ordersPage, roles: [...ADMINS, "manager", "finance"] },
  stock: { render: stockPage },
  shops: { render: shopsPage, roles: [...ADMINS, "manager"] },
  "sku-mappings": { render: mappingsPage, roles: [...ADMINS, "manager", "finance"] },
  agents: { render: agentsPage, roles: ADMINS },
  users: { render: usersPage, roles: ADMINS },
  keys: { render: keysPage, roles: ADMINS },
};

const $ = (id) => document.getElementById(id);
let current = null;
let stream = null;

function allowed(claims, page) {
  const roles = PAGES[page].roles;
  return !roles || (claims?.roles || []).some((r) => roles.includes(r));
}

// The phone's "more" menu: the links that do not fit in the bottom bar.
function setMoreOpen(open) {
  $("nav").classList.toggle("more-open", open);
  $("nav-more").setAttribute("aria-expanded", String(open));
}

// Warehouse staff land on their stock; everyone else on the dashboard.
function defaultPage(claims) {
  const roles = claims.roles || [];
  return roles.length && roles.every((r) => r === "warehouse") ? "stock" : "dashboard";
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
  if (!claims) return;
  const name = location.hash.replace(/^#\/?/, "").split("?")[0];
  const page = PAGES[name] ? name : defaultPage(claims);
  if (!PAGES[name]) {
    history.replaceState(null, "", "#/" + page);
  }
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  $("nav-more").classList.toggle("current", !!$("nav-more-panel").querySelector(`a[data-page="${page}"]`));
  setMoreOpen(false);
  current?.dispose();
  current = null;
  const main = $("main");
  main.dataset.page = page;
  if (!allowed(claims, page)) {
    clear(main, errorState({ status: 403 }));
    return;
  }
  current = PAGES[page].render(main);
}

function showWho(claims) {
  const roles = (claims.roles || []).map(roleName).join(" · ");
  clear($("whoami"), h("strong", {}, claims.preferred_username || claims.sub), " ", h("span", { class: "muted" }, roles));
}

function showShell(claims) {
  $("boot").hidden = true;
  $("login").hidden = true;
  $("shell").hidden = false;
  showWho(claims);
  for (const a of document.querySelectorAll("#nav a[data-page]")) a.hidden = !allowed(claims, a.dataset.page);
  $("nav-more").hidden = ![...$("nav-more-panel").querySelectorAll("a")].some((a) => !a.hidden);
  stream?.stop();
  stream = new EventStream((ev) => current?.onEvent(ev), setLive);
  stream.start();
  route();
}

function showLogin(message) {
  stream?.stop();
  stream = null;
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
    showShell(claims);
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
  try {
    await loadI18n();
  } catch {
    // Without the table the keys are shown; still better than a blank page.
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
    if (claims && !$("shell").hidden) {
      showWho(claims);
      route();
    }
  });
  window.addEventListener("hashchange", route);
  const claims = await resume();
  if (claims) showShell(claims);
  else showLogin();
}

// Counted (and logged) so a browser test can assert that a session ran without a script error
// or a Content-Security-Policy violation.
window.xtProblems = [];
window.addEventListener("error", (e) => window.xtProblems.push("error: " + e.message));
window.addEventListener("unhandledrejection", (e) => window.xtProblems.push("rejection: " + (e.reason?.message || e.reason)));
document.addEventListener("securitypolicyviolation", (e) => window.xtProblems.push("csp: " + e.violatedDirective + " " + e.blockedURI));

boot();
