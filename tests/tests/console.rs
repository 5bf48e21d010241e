//! The web console in a real browser: headless Chromium driven over WebDriver (chromedriver,
//! started here as a child process) against a real hub and a real agent fed by the demo's
//! legacy WMS, at a phone size (390×844) and a desktop size (1440×900). Screenshots of every
//! step that matters go to `<target>/console-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them when missing);
//! `CHROMEDRIVER` and `CHROMIUM` override their paths.

mod support;

use anyhow::Context;
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::free_addr;
use xt_tests::demo::{CSV_WAREHOUSE, Demo, SQLITE_WAREHOUSE, TENANT};
use xt_tests::{LocalHub, wait_for};

/// How long the page may take to reach a state the test waits for (a liveness bound, not a
/// speed assertion: a healthy run takes a fraction of it).
const UI_TIMEOUT: Duration = Duration::from_secs(60);
/// SKUs per warehouse in the demo data the browser looks at.
const DEMO_SKUS: usize = 40;
/// The SKU the stock steps search for and change.
const WATCHED_SKU: &str = "SKU-000007";

#[derive(Clone, Copy)]
struct Size {
    name: &'static str,
    width: u32,
    height: u32,
    phone: bool,
}

const PHONE: Size = Size {
    name: "phone",
    width: 390,
    height: 844,
    phone: true,
};
const DESKTOP: Size = Size {
    name: "desktop",
    width: 1440,
    height: 900,
    phone: false,
};

/// Where screenshots go: `<target>/console-screenshots/`.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            Path::new(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .map(Path::to_owned)
        })
        .unwrap_or_else(|| PathBuf::from("target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

/// A chromedriver child process, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver(log: &Path) -> anyhow::Result<Driver> {
    let path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    anyhow::ensure!(
        Path::new(&path).exists(),
        "chromedriver not found at {path}: `.ci/run` installs Debian's chromium and \
         chromium-driver (apt-get install chromium chromium-driver), or set CHROMEDRIVER"
    );
    let port = free_addr().port();
    let child = Command::new(&path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::from(std::fs::File::create(log)?))
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {path}"))?;
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let status = format!("{}/status", driver.url);
    wait_for(UI_TIMEOUT, "chromedriver to answer", || {
        let req = http.get(&status).send();
        async move {
            req.await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        }
    })
    .await?;
    Ok(driver)
}

/// One browser session at one size, writing numbered screenshots.
struct Browser {
    client: Client,
    size: Size,
    shots: PathBuf,
    prefix: String,
    step: u32,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A session whose screenshots are named `<prefix>-<step>-<what>.png`; the previous run's
    /// screenshots with that prefix are removed first.
    async fn open(driver: &Driver, size: Size, prefix: String) -> anyhow::Result<Browser> {
        let shots = screenshot_dir();
        for entry in std::fs::read_dir(&shots)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("{prefix}-")) && name.ends_with(".png") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        anyhow::ensure!(
            Path::new(&chromium).exists(),
            "chromium not found at {chromium}: `.ci/run` installs Debian's chromium and \
             chromium-driver, or set CHROMIUM"
        );
        let profile = tempfile::tempdir()?;
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={},{}", size.width, size.height),
                ],
            },
        });
        let caps = match caps {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("capabilities are an object"),
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .context("opening a chromium session")?;
        let mut browser = Browser {
            client,
            size,
            shots,
            prefix,
            step: 0,
            _profile: profile,
        };
        browser.fit_viewport().await?;
        Ok(browser)
    }

    /// Makes the page's viewport (not the window) exactly the size asked for.
    async fn fit_viewport(&mut self) -> anyhow::Result<()> {
        let (w, h) = (self.size.width, self.size.height);
        self.client.set_window_size(w, h).await?;
        let v = self
            .client
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await?;
        let inner = |i: usize| v[i].as_u64().unwrap_or(0) as u32;
        if (inner(0), inner(1)) != (w, h) {
            self.client
                .set_window_size(
                    w + w.saturating_sub(inner(0)),
                    h + h.saturating_sub(inner(1)),
                )
                .await?;
        }
        Ok(())
    }

    async fn shot(&mut self, what: &str) -> anyhow::Result<()> {
        self.step += 1;
        let png = self.client.screenshot().await?;
        let path = self
            .shots
            .join(format!("{}-{:02}-{what}.png", self.prefix, self.step));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))
    }

    async fn js(&self, script: &str) -> anyhow::Result<serde_json::Value> {
        Ok(self.client.execute(script, vec![]).await?)
    }

    /// Waits until the JS expression is truthy.
    async fn until(&self, what: &str, expr: &str) -> anyhow::Result<()> {
        let script = format!("try {{ return !!({expr}); }} catch (e) {{ return false; }}");
        let client = &self.client;
        wait_for(UI_TIMEOUT, what, || {
            let run = client.execute(&script, vec![]);
            async move {
                run.await
                    .ok()
                    .and_then(|v| v.as_bool())
                    .filter(|b| *b)
                    .map(|_| ())
            }
        })
        .await
    }

    async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let el = self.client.find(Locator::Css(css)).await?;
        el.clear().await?;
        el.send_keys(text).await?;
        Ok(())
    }

    async fn click(&self, css: &str) -> anyhow::Result<()> {
        // Centred first, as a person would scroll to it, so the phone's fixed bottom
        // navigation is not over it.
        self.client
            .execute(
                "document.querySelector(arguments[0])?.scrollIntoView({block: 'center'}); return true;",
                vec![serde_json::json!(css)],
            )
            .await?;
        self.client.find(Locator::Css(css)).await?.click().await?;
        Ok(())
    }

    async fn goto_page(&self, page: &str) -> anyhow::Result<()> {
        let link = format!("#nav a[data-page=\"{page}\"]");
        // On a phone the pages that do not fit the bottom bar are behind "more".
        let folded = self
            .js(&format!(
                "return document.querySelector('{link}').getClientRects().length === 0;"
            ))
            .await?;
        if folded.as_bool() == Some(true) {
            self.click("#nav-more").await?;
            self.until(
                "the more menu",
                "document.getElementById('nav').classList.contains('more-open')",
            )
            .await?;
        }
        self.click(&link).await?;
        self.until(
            &format!("the {page} page"),
            &format!("document.getElementById('main').dataset.page === '{page}'"),
        )
        .await
    }

    async fn log_in(&mut self, base: &str, user: &str, password: &str) -> anyhow::Result<()> {
        self.client.goto(base).await?;
        self.until("the login form", "!document.getElementById('login').hidden")
            .await?;
        self.type_into("#login-tenant", TENANT).await?;
        self.type_into("#login-username", user).await?;
        self.type_into("#login-password", password).await?;
        self.click("#login-submit").await
    }

    async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// Text of an element, digits only (quantities are formatted per locale: "1,234").
fn digits_of(css: &str) -> String {
    format!("document.querySelector('{css}').textContent.replace(/\\D/g, '')")
}

/// No script error, unhandled rejection or CSP violation so far (the page counts them).
async fn no_problems(b: &Browser) -> anyhow::Result<()> {
    let problems = b.js("return window.xtProblems;").await?;
    anyhow::ensure!(
        problems.as_array().is_some_and(Vec::is_empty),
        "the page reported problems: {problems}"
    );
    Ok(())
}

/// At a phone's width no list runs past the screen's edge: the page does not scroll sideways
/// and no table scrolls inside its wrapper (lists are cards there, every field labelled).
async fn fits_the_screen(b: &Browser, what: &str) -> anyhow::Result<()> {
    if !b.size.phone {
        return Ok(());
    }
    let v = b
        .js(
            "const wide = [...document.querySelectorAll('.table-wrap')] \
             .filter(w => w.scrollWidth > w.clientWidth + 1) \
             .map(w => w.querySelector('tbody')?.id + ' ' + w.scrollWidth + '>' + w.clientWidth); \
             return [document.documentElement.scrollWidth, window.innerWidth, wide];",
        )
        .await?;
    let scroll = v[0].as_f64().unwrap_or(f64::NAN);
    let inner = v[1].as_f64().unwrap_or(f64::NAN);
    anyhow::ensure!(
        scroll <= inner && v[2].as_array().is_some_and(Vec::is_empty),
        "{what}: a list is wider than the screen (scrollWidth, innerWidth, wide tables): {v}"
    );
    Ok(())
}

/// The steps every user size goes through.
async fn walk(b: &mut Browser, demo: &mut Demo, base: &str, live_qty: i64) -> anyhow::Result<()> {
    let hub = &demo.hub;

    // A wrong password shows an error message, not a blank page.
    b.log_in(base, &hub.owner_user, "not-the-password-123")
        .await?;
    b.until(
        "the wrong-password message",
        "!document.getElementById('login-error').hidden && \
         document.getElementById('login-error').textContent.length > 0",
    )
    .await?;
    b.shot("login-wrong-password").await?;

    // The right one opens the console.
    b.type_into("#login-password", &hub.owner_password).await?;
    b.click("#login-submit").await?;
    b.until(
        "the console shell",
        "!document.getElementById('shell').hidden",
    )
    .await?;
    b.until(
        "the dashboard to settle",
        "!document.querySelector('#main .state-loading')",
    )
    .await?;
    b.shot("dashboard").await?;

    // Phone: a bottom navigation across the full width; desktop: a sidebar on the left.
    let layout = b
        .js(
            "const n = document.getElementById('nav').getBoundingClientRect(); \
             return [n.left, n.top, n.width, n.height, window.innerWidth, window.innerHeight, \
             document.documentElement.clientWidth];",
        )
        .await?;
    let f = |i: usize| layout[i].as_f64().unwrap_or(f64::NAN);
    let (left, top, width, height, vw, vh) = (f(0), f(1), f(2), f(3), f(4), f(5));
    // The page's width without a classic scrollbar (headless Chromium draws one once the page
    // is taller than the viewport; phones overlay theirs).
    let page_width = f(6);
    assert_eq!(vw, b.size.width as f64, "viewport width: {layout}");
    if b.size.phone {
        assert!(
            (top + height - vh).abs() < 1.0 && width == page_width && height < 100.0,
            "phone: the navigation must be a bar at the bottom: {layout}"
        );
    } else {
        assert!(
            left == 0.0 && width < 300.0 && height > vh / 2.0,
            "desktop: the navigation must be a sidebar on the left: {layout}"
        );
    }

    no_problems(b).await?;
    // A reload keeps the session: the refresh token survives in sessionStorage.
    b.client.refresh().await?;
    b.until(
        "the console again after a reload",
        "!document.getElementById('shell').hidden && document.getElementById('main').dataset.page === 'dashboard'",
    )
    .await?;

    // Agents: the demo agent is online.
    b.goto_page("agents").await?;
    let agent = format!("[data-agent=\"{}\"][data-status=\"online\"]", demo.agent_id);
    b.until(
        "the demo agent online",
        &format!("document.querySelector('{agent}')"),
    )
    .await?;
    b.shot("agents").await?;
    fits_the_screen(b, "agents").await?;

    // An enrollment token with a ready-to-copy command.
    b.click("#enroll-toggle").await?;
    b.type_into("#enroll-site", "beijing-dc").await?;
    b.click("#enroll-submit").await?;
    b.until(
        "the enroll command",
        &format!(
            "document.getElementById('enroll-command').textContent.includes('xt-agent enroll --hub 127.0.0.1:{} ') && \
             document.getElementById('enroll-command').textContent.includes('--ca-fingerprint {}') && \
             document.querySelector('#enroll-command + button')",
            hub.running.quic_addr.port(),
            hub.ca_fingerprint
        ),
    )
    .await?;
    b.shot("enrollment-token").await?;

    // Users: the owner is listed.
    b.goto_page("users").await?;
    b.until(
        "the owner in the users list",
        &format!(
            "document.querySelector('tr[data-user=\"{}\"]')",
            hub.owner_user
        ),
    )
    .await?;
    // A new warehouse user, then made a manager.
    let staff = format!("staff-{}", b.size.name);
    b.click("#user-new-toggle").await?;
    b.type_into("#user-name", &staff).await?;
    b.type_into("#user-password", "correct-horse-battery")
        .await?;
    b.click("input[name=role][value=warehouse]").await?;
    b.type_into("#user-warehouses", SQLITE_WAREHOUSE).await?;
    b.click("#main form.form-grid button[type=submit]").await?;
    let row = format!("tr[data-user=\"{staff}\"]");
    b.until(
        "the new user in the list",
        &format!("document.querySelector('{row}')?.textContent.includes('{SQLITE_WAREHOUSE}')"),
    )
    .await?;
    b.click(&format!("{row} .row-actions button")).await?;
    b.click("tr.edit-row input[value=manager]").await?;
    b.click("tr.edit-row input[value=warehouse]").await?;
    b.shot("users-edit").await?;
    b.click("tr.edit-row button[type=submit]").await?;
    b.until(
        "the user's new role",
        &format!(
            "!document.querySelector('tr.edit-row') && \
             document.querySelector('{row}').textContent.includes('经理') && \
             !document.querySelector('{row}').textContent.includes('{SQLITE_WAREHOUSE}')"
        ),
    )
    .await?;
    b.shot("users").await?;
    fits_the_screen(b, "users").await?;

    // Stock: search a known SKU and see the hub's quantity in both warehouses.
    b.goto_page("stock").await?;
    b.type_into("#stock-search", WATCHED_SKU).await?;
    b.click("#main form button[type=submit]").await?;
    let stock = hub.api().stock().await?;
    for warehouse in [SQLITE_WAREHOUSE, CSV_WAREHOUSE] {
        let qty = stock[&(warehouse.to_owned(), WATCHED_SKU.to_owned())];
        let cell = format!("tr[data-warehouse=\"{warehouse}\"][data-sku=\"{WATCHED_SKU}\"] .qty");
        b.until(
            &format!("{warehouse}/{WATCHED_SKU} = {qty}"),
            &format!("{} === '{qty}'", digits_of(&cell)),
        )
        .await?;
    }
    b.shot("stock-search").await?;
    fits_the_screen(b, "stock").await?;

    // Live: a stock count in the legacy WMS shows up without reloading the page.
    b.until(
        "the live event stream",
        "document.getElementById('live').dataset.state === 'live'",
    )
    .await?;
    b.js("window.xtNoReload = true; return true;").await?;
    demo.wms.set_qty(SQLITE_WAREHOUSE, WATCHED_SKU, live_qty)?;
    let cell =
        format!("tr[data-warehouse=\"{SQLITE_WAREHOUSE}\"][data-sku=\"{WATCHED_SKU}\"] .qty");
    b.until(
        "the new quantity to appear live",
        &format!(
            "window.xtNoReload === true && {} === '{live_qty}'",
            digits_of(&cell)
        ),
    )
    .await?;
    b.shot("stock-live-update").await?;

    // English and back.
    b.click("#lang-toggle").await?;
    b.until(
        "English text",
        "document.documentElement.lang === 'en' && \
         document.querySelector('#nav a[data-page=\"stock\"] span').textContent === 'Stock' && \
         document.getElementById('logout').textContent === 'Sign out'",
    )
    .await?;
    b.shot("english").await?;
    b.click("#lang-toggle").await?;
    b.until(
        "Chinese text",
        "document.documentElement.lang === 'zh-CN' && \
         document.querySelector('#nav a[data-page=\"stock\"] span').textContent === '库存'",
    )
    .await?;

    // Revoke (desktop only: the phone pass runs first and needs the agent online).
    if !b.size.phone {
        b.goto_page("agents").await?;
        let card = format!("[data-agent=\"{}\"]", demo.agent_id);
        // Two clicks: the first arms the button, the second confirms.
        b.click(&format!("{card} .btn-danger")).await?;
        b.click(&format!("{card} .btn-danger")).await?;
        b.until(
            "the agent revoked",
            &format!("document.querySelector('{card}[data-status=\"revoked\"]')"),
        )
        .await?;
        b.shot("agent-revoked").await?;
    }

    no_problems(b).await?;
    // Log out: back on the login page, the session gone.
    b.click("#logout").await?;
    b.until(
        "the login page after logout",
        "!document.getElementById('login').hidden && document.getElementById('shell').hidden && \
         sessionStorage.getItem('xt.refresh') === null",
    )
    .await?;
    b.shot("logged-out").await?;

    // Warehouse staff land on the stock of their own warehouse, without the admin pages: the
    // navigation shows the pages GET /api/v1/me's permissions allow (stock:read,
    // dashboard:read; no orders:read, shops:read or any page of the "more" menu).
    let picker = format!("picker-{}", b.size.name);
    create_user(demo, &picker, "warehouse", &[CSV_WAREHOUSE]).await?;
    b.log_in(base, &picker, PICKER_PASSWORD).await?;
    b.until(
        "the picker's stock page",
        &format!(
            "document.getElementById('main').dataset.page === 'stock' && \
             document.querySelector('#nav a[data-page=\"agents\"]').hidden && \
             document.querySelector('#nav a[data-page=\"orders\"]').hidden && \
             document.querySelector('#nav a[data-page=\"shops\"]').hidden && \
             !document.querySelector('#nav a[data-page=\"dashboard\"]').hidden && \
             document.getElementById('nav-more').hidden && \
             document.querySelectorAll('#stock-rows tr').length > 0 && \
             [...document.querySelectorAll('#stock-rows tr')].every(r => r.dataset.warehouse === '{CSV_WAREHOUSE}')"
        ),
    )
    .await?;
    b.shot("warehouse-staff").await?;
    no_problems(b).await?;
    b.click("#logout").await?;
    b.until("the login page", "!document.getElementById('login').hidden")
        .await?;
    Ok(())
}

const PICKER_PASSWORD: &str = "picker-password-1234";

/// Makes a user through the API with the demo's admin key.
async fn create_user(
    demo: &Demo,
    username: &str,
    role: &str,
    warehouses: &[&str],
) -> anyhow::Result<()> {
    let api = demo.hub.api();
    reqwest::Client::new()
        .post(format!("{}/api/v1/users", api.base))
        .bearer_auth(&api.key)
        .json(&serde_json::json!({
            "username": username,
            "password": PICKER_PASSWORD,
            "roles": [role],
            "warehouses": warehouses,
        }))
        .send()
        .await?
        .error_for_status()
        .context("creating a user")?;
    Ok(())
}

/// Runs `steps` in a fresh browser session at each size, against the console at `base`.
async fn run_sizes<T, F>(
    ctx: &mut T,
    base: &str,
    label: &str,
    sizes: &[Size],
    mut steps: F,
) -> anyhow::Result<()>
where
    F: for<'a> FnMut(
        &'a mut Browser,
        &'a mut T,
        &'a str,
        usize,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = anyhow::Result<()>> + 'a>,
    >,
{
    let shots = screenshot_dir();
    let driver = start_driver(&shots.join("chromedriver.log")).await?;
    for (i, size) in sizes.iter().enumerate() {
        let prefix = format!("{label}{}", size.name);
        let mut browser = Browser::open(&driver, *size, prefix).await?;
        let result = steps(&mut browser, ctx, base, i).await;
        if result.is_err() {
            // The page as it was when the step failed, for whoever reads the failure.
            let _ = browser.shot("FAILED").await;
        }
        browser.close().await;
        result.with_context(|| format!("at the {} size", size.name))?;
    }
    Ok(())
}

fn console_url(hub: &LocalHub) -> String {
    format!("http://{}/", hub.running.http_addr)
}

async fn start_demo(dir: &Path) -> anyhow::Result<Demo> {
    Demo::start(dir, free_addr(), free_addr(), DEMO_SKUS).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_on_phone_and_desktop() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut demo = start_demo(dir.path()).await?;
    let base = console_url(&demo.hub);
    let result = run_sizes(
        &mut demo,
        &base,
        "",
        &[PHONE, DESKTOP],
        |b, demo, base, i| Box::pin(walk(b, demo, base, 7001 + i as i64)),
    )
    .await;
    demo.stop().await;
    result
}

/// The dashboard and API-keys pages, against `/api/v1/dashboard` and `/api/v1/api-keys`.
async fn walk_dashboard_and_keys(
    b: &mut Browser,
    demo: &mut Demo,
    base: &str,
) -> anyhow::Result<()> {
    let hub = &demo.hub;
    b.log_in(base, &hub.owner_user, &hub.owner_password).await?;
    b.until(
        "the console shell",
        "!document.getElementById('shell').hidden",
    )
    .await?;
    b.until(
        "the dashboard with its charts",
        &format!(
            "document.querySelectorAll('#main .stat').length >= 4 && \
             document.querySelectorAll('#main svg.chart').length >= 1 && \
             document.getElementById('main').textContent.includes('{SQLITE_WAREHOUSE}') && \
             !document.querySelector('#main .state-error')"
        ),
    )
    .await?;
    b.shot("dashboard-full").await?;
    fits_the_screen(b, "dashboard").await?;

    b.goto_page("keys").await?;
    b.click("#key-new-toggle").await?;
    b.type_into("#key-name", "erp-sync").await?;
    b.click("#key-submit").await?;
    b.until(
        "the new key's secret, shown once",
        "document.getElementById('key-secret-text').textContent.startsWith('xtk_') && \
         [...document.querySelectorAll('#main tr[data-key]')].some(r => r.textContent.includes('erp-sync'))",
    )
    .await?;
    b.shot("api-key-created").await?;
    fits_the_screen(b, "API keys").await?;
    no_problems(b).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_dashboard_and_api_keys() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut demo = start_demo(dir.path()).await?;
    let base = console_url(&demo.hub);
    let result = run_sizes(
        &mut demo,
        &base,
        "full-",
        &[PHONE, DESKTOP],
        |b, demo, base, _| Box::pin(walk_dashboard_and_keys(b, demo, base)),
    )
    .await;
    demo.stop().await;
    result
}

/// Secret credential values typed into the shop form: none may ever be in the page again.
const SHOP_SECRETS: [&str; 2] = ["TOP-APP-SECRET-console-zq9", "TOP-SESSION-console-zq9"];

/// Neither secret in the page: not in its markup, not left in an input.
async fn no_secret_in_page(b: &Browser) -> anyhow::Result<()> {
    let text = b
        .js("return document.documentElement.outerHTML + '\\n' + \
             [...document.querySelectorAll('input')].map(i => i.value).join('\\n');")
        .await?;
    let text = text.as_str().unwrap_or_default();
    for secret in SHOP_SECRETS {
        anyhow::ensure!(!text.contains(secret), "the page shows the secret {secret}");
    }
    Ok(())
}

/// The shops page: bind a Taobao shop through the form, see it with its credentials only as
/// "已设置", disable it and enable it again.
async fn walk_shops(b: &mut Browser, hub: &mut LocalHub, base: &str) -> anyhow::Result<()> {
    b.log_in(base, &hub.owner_user, &hub.owner_password).await?;
    b.until(
        "the console shell",
        "!document.getElementById('shell').hidden",
    )
    .await?;
    b.goto_page("shops").await?;
    b.until(
        "the shops list",
        "document.querySelector('#shops-list > :not(.state-loading)')",
    )
    .await?;
    let name = format!("淘宝旗舰店 {}", b.size.name);
    b.click("#shop-new-toggle").await?;
    // Taobao is the first platform; its fields are an app key and two secrets.
    b.until(
        "the Taobao credential fields",
        "document.getElementById('shop-platform').value === 'taobao' && \
         document.getElementById('shop-cred-app_secret').type === 'password' && \
         document.getElementById('shop-cred-session').type === 'password'",
    )
    .await?;
    b.type_into("#shop-name", &name).await?;
    b.type_into("#shop-url", "http://127.0.0.1:9/top").await?;
    b.type_into("#shop-cred-app_key", "12345678").await?;
    b.type_into("#shop-cred-app_secret", SHOP_SECRETS[0])
        .await?;
    b.type_into("#shop-cred-session", SHOP_SECRETS[1]).await?;
    b.shot("shop-form").await?;
    b.click("#shop-submit").await?;
    // The shop's card, found by its name.
    let card_of = |rest: &str| {
        format!(
            "[...document.querySelectorAll('#shops-list [data-shop]')]\
             .find(c => c.querySelector('.card-title').textContent === {name:?}){rest}"
        )
    };
    b.until(
        "the new shop with its secrets set",
        &format!(
            "{c}?.querySelector('[data-cred=app_secret]').textContent.includes('已设置') && \
             {c}.querySelector('[data-cred=session]').textContent.includes('已设置') && \
             {c}.querySelector('[data-cred=app_key]').textContent.includes('12…78') && \
             {c}.dataset.enabled === 'true' && {c}.textContent.includes('未开始')",
            c = card_of("")
        ),
    )
    .await?;
    no_secret_in_page(b).await?;
    let id = b
        .js(&format!("return {};", card_of(".dataset.shop")))
        .await?;
    let id = id.as_str().context("the shop card's id")?.to_owned();
    b.shot("shop-added").await?;

    // Disable (two clicks: arm, confirm), then enable again.
    let sel = format!("[data-shop=\"{id}\"]");
    b.click(&format!("{sel} .card-actions .btn-danger")).await?;
    b.click(&format!("{sel} .card-actions .btn-danger")).await?;
    b.until(
        "the shop disabled",
        &format!(
            "document.querySelector('{sel}[data-enabled=\"false\"]')?.textContent.includes('已停用')"
        ),
    )
    .await?;
    b.shot("shop-disabled").await?;
    b.click(&format!("{sel} .card-actions .btn-primary"))
        .await?;
    b.until(
        "the shop enabled",
        &format!("document.querySelector('{sel}[data-enabled=\"true\"]')"),
    )
    .await?;
    no_secret_in_page(b).await?;
    // A backfill of the last days is scheduled by the hub.
    b.click(&format!("{sel} .backfill")).await?;
    b.until(
        "the backfill scheduled",
        "!document.getElementById('toast').hidden && \
         document.getElementById('toast').textContent.includes('补采')",
    )
    .await?;

    // The hub agrees.
    let api = hub.api();
    let shop: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/shops/{id}", api.base))
        .bearer_auth(&api.key)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(shop["enabled"], true, "{shop}");
    assert_eq!(shop["name"], name.as_str(), "{shop}");

    // English: the credential states are translated too.
    b.click("#lang-toggle").await?;
    b.until(
        "the shops page in English",
        &format!(
            "document.documentElement.lang === 'en' && \
             document.querySelector('{sel} [data-cred=app_secret]').textContent.includes('Set')"
        ),
    )
    .await?;
    b.shot("shops-english").await?;
    b.click("#lang-toggle").await?;
    b.until("Chinese again", "document.documentElement.lang === 'zh-CN'")
        .await?;

    if b.size.phone {
        // The pages that do not fit the bottom bar open from "more".
        b.click("#nav-more").await?;
        b.until(
            "the more menu open",
            "document.querySelector('#nav a[data-page=\"keys\"]').getClientRects().length > 0",
        )
        .await?;
        b.shot("more-menu").await?;
        b.click("#nav a[data-page=\"keys\"]").await?;
        b.until(
            "the keys page, the menu closed",
            "document.getElementById('main').dataset.page === 'keys' && \
             !document.getElementById('nav').classList.contains('more-open')",
        )
        .await?;
    }
    no_problems(b).await?;
    b.click("#logout").await?;
    b.until("the login page", "!document.getElementById('login').hidden")
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_shops() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut hub = LocalHub::start(dir.path(), TENANT, free_addr(), free_addr()).await?;
    let base = console_url(&hub);
    let result = run_sizes(
        &mut hub,
        &base,
        "shops-",
        &[PHONE, DESKTOP],
        |b, hub, base, _| Box::pin(walk_shops(b, hub, base)),
    )
    .await;
    hub.running.shutdown().await;
    result
}

/// Taobao payloads from the hub's channel fixtures, captured into the browser tests' shop.
const ORDER_FIXTURES: [&str; 4] = [
    "multi-line-tmall",
    "cod-signed-county-city",
    "refund-partial",
    "presale-step",
];

/// A Taobao shop bound through the API, with the fixture orders applied to it as its capture
/// would; returns the shop id.
async fn shop_with_orders(hub: &LocalHub) -> anyhow::Result<String> {
    let api = hub.api();
    let shop: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/v1/shops", api.base))
        .bearer_auth(&api.key)
        .json(&serde_json::json!({
            "platform": "taobao", "name": "天猫旗舰店", "api_base_url": "http://127.0.0.1:9/top",
            "credentials": {"app_key": "12345678", "app_secret": "s3cr3t-s", "session": "s3ss-s"},
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = shop["id"].as_str().context("the shop id")?.to_owned();
    let mut items = Vec::new();
    for name in ORDER_FIXTURES {
        let path = format!(
            "{}/../hub/tests/fixtures/channels/taobao/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let raw: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        let order = xt_hub::shops::channels::parse_order(xt_shared::order::Platform::Taobao, &raw)
            .with_context(|| format!("parsing {path}"))?;
        items.push(xt_hub::shops::channels::Captured::Order {
            raw: raw.to_string(),
            order,
        });
    }
    hub.running.hub.store().apply_shop_items(
        &hub.tenant,
        &id,
        items,
        xt_shared::model::UtcMillis(1_000),
    )?;
    Ok(id)
}

/// GET with the hub's admin key.
async fn api_get(hub: &LocalHub, path: &str) -> anyhow::Result<serde_json::Value> {
    let api = hub.api();
    Ok(reqwest::Client::new()
        .get(format!("{}{path}", api.base))
        .bearer_auth(&api.key)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// Orders captured from a shop: the list, a status filter, one order's detail with its
/// provenance, a SKU mapping added from an unmapped line (phone) or by hand (desktop), and the
/// shop's row on the dashboard.
async fn walk_orders(
    b: &mut Browser,
    ctx: &mut (LocalHub, String),
    base: &str,
) -> anyhow::Result<()> {
    let (hub, shop) = (&ctx.0, ctx.1.as_str());
    b.log_in(base, &hub.owner_user, &hub.owner_password).await?;
    b.until(
        "the dashboard's shop row",
        &format!(
            "document.querySelector('#main .shops-health tr[data-shop=\"{shop}\"] .status-dot')"
        ),
    )
    .await?;
    b.shot("dashboard-shops").await?;
    fits_the_screen(b, "dashboard with shops").await?;

    b.goto_page("orders").await?;
    // The fixtures, and the live orders an earlier size's walk added.
    let listed = api_get(hub, "/api/v1/orders?limit=200").await?;
    let all = listed["orders"].as_array().map_or(0, Vec::len);
    b.until(
        "every captured order listed",
        &format!("document.querySelectorAll('#order-rows tr[data-order]').length === {all}"),
    )
    .await?;
    b.shot("orders").await?;
    if b.size.phone {
        // Every order shows its amount and time on a phone (a card per order, not a table
        // whose last columns are cut or hidden).
        let cells = b
            .js(
                r#"const row = document.querySelector('#order-rows tr[data-order]');
                 row.scrollIntoView({block: 'center'});
                 return ['paid', 'modified'].map(col => {
                   const td = row.querySelector(`td[data-col="${col}"]`);
                   const r = td.getBoundingClientRect();
                   const s = getComputedStyle(td);
                   const shown = s.display !== 'none' && s.visibility === 'visible' &&
                     r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= window.innerWidth &&
                     r.top >= 0 && r.bottom <= window.innerHeight && /\d/.test(td.textContent);
                   return [col, shown, td.textContent, [r.left, r.top, r.right, r.bottom]];
                 });"#,
            )
            .await?;
        anyhow::ensure!(
            cells
                .as_array()
                .is_some_and(|c| c.len() == 2 && c.iter().all(|cell| cell[1] == true)),
            "an order's amount and time must be visible on a phone: {cells}"
        );
    }
    fits_the_screen(b, "orders").await?;

    // Live: an order captured now appears on top without a reload, and an order the platform
    // changes updates its row in place (`orders_changed` events from the hub's ingest path).
    // Each size's order is newer than the one before it, so it is the newest of the list.
    let (tid, captured, changed) = if b.size.phone {
        (
            "4099000000000000001",
            "2026-11-12 08:00:00",
            "2026-11-12 09:00:00",
        )
    } else {
        (
            "4099000000000000002",
            "2026-11-12 10:00:00",
            "2026-11-12 11:00:00",
        )
    };
    let live = |tid: &str, status: &str, modified: &str| {
        let path = format!(
            "{}/../hub/tests/fixtures/channels/taobao/multi-line-tmall.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut raw: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
        raw["tid"] = serde_json::json!(tid.parse::<u64>()?);
        raw["tid_str"] = serde_json::json!(tid);
        raw["status"] = serde_json::json!(status);
        raw["modified"] = serde_json::json!(modified);
        let order = xt_hub::shops::channels::parse_order(xt_shared::order::Platform::Taobao, &raw)?;
        hub.running.hub.ingest_shop_items(
            &hub.tenant,
            shop,
            vec![xt_hub::shops::channels::Captured::Order {
                raw: raw.to_string(),
                order,
            }],
        )?;
        anyhow::Ok(())
    };
    live(tid, "WAIT_SELLER_SEND_GOODS", captured)?;
    let row = format!("#order-rows tr[data-order=\"{shop}:{tid}\"]");
    b.until(
        "a new order shown on top without a reload",
        &format!(
            "document.querySelector('#order-rows tr[data-order]') === document.querySelector('{row}')"
        ),
    )
    .await?;
    let before = b
        .js(&format!(
            "return document.querySelector('{row}').textContent;"
        ))
        .await?;
    let shown = b
        .js("return document.querySelectorAll('#order-rows tr[data-order]').length;")
        .await?;
    live(tid, "TRADE_CLOSED", changed)?;
    b.until(
        "the changed order's row updated in place, no row added",
        &format!(
            "(() => {{ const r = document.querySelector('{row}'); \
               return !!r && document.querySelector('#order-rows tr[data-order]') === r && \
                 r.textContent !== {before} && \
                 document.querySelectorAll('#order-rows tr[data-order]').length === {shown}; }})()"
        ),
    )
    .await?;
    b.shot("orders-live").await?;

    // Filter by status: the rows the hub answers for it, and only those.
    let paid = api_get(hub, "/api/v1/orders?status=paid").await?;
    let paid = paid["orders"].as_array().map_or(0, Vec::len);
    anyhow::ensure!(paid > 0, "the fixtures hold a paid order");
    b.client
        .find(Locator::Css("#orders-status"))
        .await?
        .select_by_value("paid")
        .await?;
    b.until(
        "only paid orders",
        &format!(
            "document.querySelectorAll('#order-rows tr[data-order]').length === {paid} && \
             [...document.querySelectorAll('#order-rows tr[data-order]')].every(r => r.dataset.status === 'paid') && \
             document.querySelector('#order-rows .badge[data-status=paid]').textContent === '已付款'"
        ),
    )
    .await?;
    b.shot("orders-paid").await?;

    // One order's detail, with where each field group came from.
    b.click("#order-rows tr[data-order]").await?;
    b.until(
        "the order detail with its provenance",
        "document.querySelector('#order-detail .provenance tr[data-field=\"status\"]')?.textContent.includes('shop/shop-') && \
         document.querySelector('#order-detail .provenance tr[data-field=\"lines[0]\"]') && \
         document.querySelector('#order-detail [data-group=\"status\"]').title.includes('shop/shop-') && \
         document.querySelectorAll('#order-detail tr[data-line]').length > 0",
    )
    .await?;
    b.shot("order-detail").await?;
    fits_the_screen(b, "order detail").await?;
    // The buyer as a member, with their orders.
    b.click("#order-member").await?;
    b.until(
        "the member with their orders",
        "document.querySelector('#member-detail tr[data-order]')",
    )
    .await?;
    b.click("#order-close").await?;
    b.until(
        "the detail closed",
        "document.querySelector('#main .drawer').hidden",
    )
    .await?;
    b.client
        .find(Locator::Css("#orders-status"))
        .await?
        .select_by_value("")
        .await?;

    let before = api_get(hub, "/api/v1/sku-mappings").await?;
    let before = before["mappings"].as_array().map_or(0, Vec::len);
    if b.size.phone {
        // From a held order's unmapped line straight to a prefilled mapping form.
        b.click("#orders-held").await?;
        b.until(
            "held orders",
            "document.querySelectorAll('#order-rows tr[data-order]').length > 0 && \
             [...document.querySelectorAll('#order-rows tr[data-order]')].every(r => r.textContent.includes('已挂起'))",
        )
        .await?;
        b.click("#order-rows tr[data-order]").await?;
        b.until(
            "an unmapped line",
            "document.querySelector('#order-detail tr[data-mapped=\"false\"] .map-link')",
        )
        .await?;
        b.click("#order-detail tr[data-mapped=\"false\"] .map-link")
            .await?;
        b.until(
            "the prefilled mapping form",
            "document.getElementById('main').dataset.page === 'sku-mappings' && \
             document.getElementById('map-key').value.length > 0",
        )
        .await?;
    } else {
        b.goto_page("sku-mappings").await?;
        b.click("#map-new-toggle").await?;
        b.client
            .find(Locator::Css("#map-kind"))
            .await?
            .select_by_value("merchant_sku")
            .await?;
        b.type_into("#map-key", "GIFT-BOX-01").await?;
    }
    let sku = format!("SKU-{}", b.size.name.to_uppercase());
    b.type_into("#map-sku", &sku).await?;
    b.shot("mapping-form").await?;
    b.click("#map-submit").await?;
    b.until(
        "the new mapping listed",
        &format!(
            "[...document.querySelectorAll('#mappings-list tr[data-mapping]')].some(r => r.textContent.includes('{sku}'))"
        ),
    )
    .await?;
    b.shot("mappings").await?;
    fits_the_screen(b, "SKU mappings").await?;
    let after = api_get(hub, "/api/v1/sku-mappings").await?;
    let mappings = after["mappings"].as_array().cloned().unwrap_or_default();
    assert_eq!(mappings.len(), before + 1, "{after}");
    assert!(mappings.iter().any(|m| m["sku"] == sku.as_str()), "{after}");

    // The shop page counts its orders.
    b.goto_page("shops").await?;
    b.until(
        "the shop's order count",
        &format!(
            "document.querySelector('[data-shop=\"{shop}\"]')?.textContent.includes('订单数') && \
             [...document.querySelectorAll('[data-shop=\"{shop}\"] dd')].some(d => d.textContent === '{}')",
            all + 1
        ),
    )
    .await?;
    fits_the_screen(b, "shops").await?;
    no_problems(b).await?;
    b.click("#logout").await?;
    b.until("the login page", "!document.getElementById('login').hidden")
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_orders_and_sku_mappings() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = LocalHub::start(dir.path(), TENANT, free_addr(), free_addr()).await?;
    let base = console_url(&hub);
    let shop = shop_with_orders(&hub).await?;
    let mut ctx = (hub, shop);
    let result = run_sizes(
        &mut ctx,
        &base,
        "orders-",
        &[PHONE, DESKTOP],
        |b, ctx, base, _| Box::pin(walk_orders(b, ctx, base)),
    )
    .await;
    ctx.0.running.shutdown().await;
    result
}

/// The list helper's live refresh (what `orders_changed` events drive on the orders page), run
/// in the browser against an in-page source: rows shown are updated in place (the same row
/// element when nothing changed), new ones go on top, rows gone from the answer leave.
async fn walk_list_refresh(b: &mut Browser, _: &mut (), base: &str) -> anyhow::Result<()> {
    b.client.goto(base).await?;
    b.until("the login form", "!document.getElementById('login').hidden")
        .await?;
    let steps = b
        .js(r#"return (async () => {
              const { pagedList } = await import('/assets/list.js');
              let data = [{ id: 'c', v: 1 }, { id: 'b', v: 1 }, { id: 'a', v: 1 }];
              const list = pagedList({
                columns: [{ key: 'id', label: 'Id', cell: (i) => i.id }, { key: 'v', label: 'V', cell: (i) => String(i.v) }],
                key: (i) => i.id,
                rowAttrs: (i) => ({ dataset: { item: i.id } }),
                pageRows: 2,
                fetchPage: async (cursor, limit) => {
                  const start = cursor ? Number(cursor) : 0;
                  const items = data.slice(start, start + limit);
                  const end = start + items.length;
                  return { items, next: end < data.length ? String(end) : null };
                },
                tbodyId: 'test-rows',
              });
              document.body.append(list.el);
              const rows = () => [...document.querySelectorAll('#test-rows tr')]
                .map((r) => r.dataset.item + '=' + r.querySelector('td[data-col="v"]').textContent);
              const seen = [];
              await list.load();
              seen.push(rows());
              const b = document.querySelector('#test-rows tr[data-item="b"]');
              data = [{ id: 'd', v: 1 }, { id: 'c', v: 2 }, { id: 'b', v: 1 }, { id: 'a', v: 1 }];
              await list.refresh();
              seen.push(rows());
              seen.push(document.querySelector('#test-rows tr[data-item="b"]') === b);
              data = [{ id: 'd', v: 1 }, { id: 'b', v: 1 }, { id: 'a', v: 1 }];
              await list.refresh();
              seen.push(rows());
              list.el.remove();
              return seen;
            })();"#)
        .await?;
    assert_eq!(
        steps,
        serde_json::json!([
            ["c=1", "b=1"],
            ["d=1", "c=2", "b=1"],
            true,
            ["d=1", "b=1", "a=1"]
        ]),
        "load, then refresh with a new and a changed row, then one gone"
    );
    no_problems(b).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_list_refresh_in_place() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = LocalHub::start(dir.path(), TENANT, free_addr(), free_addr()).await?;
    let base = console_url(&hub);
    let result = run_sizes(&mut (), &base, "list-", &[DESKTOP], |b, ctx, base, _| {
        Box::pin(walk_list_refresh(b, ctx, base))
    })
    .await;
    hub.running.shutdown().await;
    result
}

/// The phone ship page against a hub process killed with SIGKILL between every step: paid Tmall
/// orders reach a phone-confirmed warehouse; its staff member, signed in on a phone, opens one
/// and confirms it with a waybill number a scanner types (its Enter submits); the hub ships the
/// order and Tmall receives the tracking number, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_ship_page_confirms_a_delivery_through_hub_kills() -> anyhow::Result<()> {
    use serde_json::{Value, json};
    const WAREHOUSE: &str = "WH-PHONE";
    let dir = tempfile::tempdir()?;
    let mut hub = support::HubProc::start(
        &dir.path().join("hub"),
        TENANT,
        &["--capture-poll", "300ms", "--allow-private-shop-urls"],
    )
    .await?;
    let http = reqwest::Client::new();
    // The hub keeps its addresses and key across restarts.
    let (hub_http, hub_key) = (hub.http, hub.key.clone());
    let call = |method: reqwest::Method, path: &str, body: Value| {
        let req = http
            .request(method, format!("http://{hub_http}{path}"))
            .bearer_auth(&hub_key)
            .json(&body);
        let path = path.to_owned();
        async move {
            let r = req.send().await?;
            let status = r.status();
            let text = r.text().await?;
            anyhow::ensure!(status.is_success(), "{path}: {status} {text}");
            Ok::<Value, anyhow::Error>(serde_json::from_str(&text).unwrap_or(Value::Null))
        }
    };
    let spec = xt_platform_sim::ShopSpec::new("tm-1", xt_shared::order::Platform::Tmall, 0);
    let credentials = xt_tests::demo::shop_credentials(&spec);
    let sim = xt_platform_sim::start(
        xt_platform_sim::SimConfig {
            seed: 5,
            history: Duration::from_secs(3600),
            shops: vec![spec],
        },
        "127.0.0.1:0".parse()?,
    )
    .await?;
    let shop = call(
        reqwest::Method::POST,
        "/api/v1/shops",
        json!({"platform": "tmall", "name": "天猫旗舰店", "enabled": true,
            "api_base_url": sim.base_url("tm-1"), "credentials": credentials}),
    )
    .await?;
    let shop_id = shop["id"].as_str().context("shop id")?.to_owned();
    call(
        reqwest::Method::POST,
        "/api/v1/warehouses",
        json!({"code": WAREHOUSE, "name": "门店仓（手机发货）", "kind": "phone",
            "coverage": {"provinces": [], "cities": []}, "priority": 1,
            "cost": {"minor": 500, "currency": "CNY"}}),
    )
    .await?;
    let mut settings = call(
        reqwest::Method::GET,
        "/api/v1/fulfilment/settings",
        json!({}),
    )
    .await?;
    settings["merge"]["enabled"] = json!(false);
    settings["review"]["repeat_receiver"] = Value::Null;
    settings["review"]["amount_over"] = Value::Null;
    call(
        reqwest::Method::PUT,
        "/api/v1/fulfilment/settings",
        settings,
    )
    .await?;
    call(
        reqwest::Method::POST,
        "/api/v1/users",
        json!({"username": "picker", "password": PICKER_PASSWORD, "roles": ["warehouse"],
            "warehouses": [WAREHOUSE]}),
    )
    .await?;

    // Step 1: the orders are paid and wait at the phone warehouse.
    let orders = sim.add_paid_orders("tm-1", 2).await;
    anyhow::ensure!(orders.len() == 2, "two orders added");
    let pending = || async {
        let page = call(
            reqwest::Method::GET,
            &format!("/api/v1/deliveries?state=pending&warehouse={WAREHOUSE}"),
            json!({}),
        )
        .await
        .ok()?;
        let nos: Vec<String> = page["deliveries"]
            .as_array()?
            .iter()
            .filter_map(|d| d["delivery_no"].as_str().map(str::to_owned))
            .collect();
        Some(nos)
    };
    let waiting = wait_for(
        UI_TIMEOUT,
        "two delivery orders at the phone warehouse",
        || async { pending().await.filter(|d| d.len() == 2) },
    )
    .await?;
    hub.kill();
    hub.spawn().await?;

    // Step 2: the picker confirms the first on the phone page; the hub is killed right after.
    let base = format!("http://{}/", hub.http);
    let shots = screenshot_dir();
    let driver = start_driver(&shots.join("chromedriver-ship.log")).await?;
    let mut b = Browser::open(&driver, PHONE, "ship-phone".into()).await?;
    let delivery = waiting[0].clone();
    let row = format!("#ship-rows [data-delivery=\"{delivery}\"]");
    let walk = async {
        b.log_in(&base, "picker", PICKER_PASSWORD).await?;
        b.until(
            "the ship page in the navigation",
            "document.querySelector('#nav a[data-page=\"ship\"]')",
        )
        .await?;
        b.goto_page("ship").await?;
        b.until(
            "the delivery in the list",
            &format!("document.querySelector('{row}')"),
        )
        .await?;
        fits_the_screen(&b, "the ship list").await?;
        b.shot("pending").await?;
        b.click(&row).await?;
        b.until(
            "the confirm form",
            "document.getElementById('ship-tracking-0')",
        )
        .await?;
        b.shot("detail").await?;
        // A scanner types the waybill number and presses Enter.
        b.type_into("#ship-tracking-0", "SF1234567890\u{E007}")
            .await?;
        b.until(
            "the delivery gone from the pending list",
            &format!("!document.querySelector('{row}')"),
        )
        .await?;
        b.shot("confirmed").await?;
        no_problems(&b).await
    }
    .await;
    if walk.is_err() {
        let _ = b.shot("FAILED").await;
    }
    b.close().await;
    walk?;
    hub.kill();
    hub.spawn().await?;

    // Step 3: the order is shipped, the other still waits, and Tmall has the tracking once.
    let state = |no: String| {
        let path = format!("/api/v1/fulfilment/orders/{shop_id}:{no}");
        let c = call(reqwest::Method::GET, &path, json!({}));
        async move {
            c.await
                .ok()
                .and_then(|v| v["state"].as_str().map(str::to_owned))
        }
    };
    let d = call(
        reqwest::Method::GET,
        &format!("/api/v1/deliveries/{delivery}"),
        json!({}),
    )
    .await?;
    // Orders are named `{shop_id}:{order_no}`.
    let shipped_order = d["order_ids"][0]
        .as_str()
        .and_then(|id| id.rsplit(':').next())
        .context("the delivery's order")?
        .to_owned();
    wait_for(UI_TIMEOUT, "the order shipped", || {
        let s = state(shipped_order.clone());
        async move { (s.await.as_deref() == Some("shipped")).then_some(()) }
    })
    .await?;
    wait_for(UI_TIMEOUT, "the tracking number at Tmall", || async {
        sim.writebacks()
            .iter()
            .any(|w| w.order_no == shipped_order && w.tracking_no == "SF1234567890")
            .then_some(())
    })
    .await?;
    hub.kill();
    hub.spawn().await?;
    let at_tmall: Vec<_> = sim
        .writebacks()
        .into_iter()
        .filter(|w| w.outcome == xt_platform_sim::Outcome::Shipped)
        .collect();
    anyhow::ensure!(
        at_tmall.len() == 1 && at_tmall[0].order_no == shipped_order,
        "one write-back, for the shipped order: {at_tmall:?}"
    );
    let still = pending().await.context("pending list")?;
    anyhow::ensure!(
        still == vec![waiting[1].clone()],
        "the other waits: {still:?}"
    );
    let d = call(
        reqwest::Method::GET,
        &format!("/api/v1/deliveries/{delivery}"),
        json!({}),
    )
    .await?;
    anyhow::ensure!(
        d["packages"].as_array().map(Vec::len) == Some(1),
        "one package: {d}"
    );
    sim.shutdown().await;
    Ok(())
}
