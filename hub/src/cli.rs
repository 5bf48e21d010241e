//! The `xt-hub` command line.

use crate::admin_client::{AdminClient, print_agents_table};
use crate::agents::ca::Ca;
use crate::api::HttpApi;
use crate::hub::{DB_FILE, Hub, HubSettings, new_secret, now_ms};
use crate::store::{ApiKeyRecord, CREATED_BY_INIT, OperatorKeyRecord, Store, UserRecord};
use crate::supervisor::{ShutdownReport, Supervisor};
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use xt_mobile_api::identity::{UserCreate, UserPatch, UserView};
use xt_mobile_api::{
    ApiKeyCreate, ApiKeyView, CredentialsInput, Role, Scope, ShopCreate, ShopPatch, ShopView,
    TokenRequest,
};
use xt_shared::ids::{AgentId, SiteId, TenantId, WarehouseCode};
use xt_shared::protocol::AgentRole;

#[derive(Parser, Debug)]
#[command(
    name = "xt-hub",
    version,
    about = "Xietong hub: the centre agents sync to and people use"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Make the CA, the database, the first tenant, an admin API key, an owner user, the
    /// first signing key and the hub operator's key.
    Init {
        /// Data directory (created if missing; must not hold a hub yet).
        #[arg(long)]
        data: PathBuf,
        /// The first tenant's id (letters, digits, '-', '_', '.').
        #[arg(long)]
        tenant: TenantId,
        /// Print JSON: {"admin_key", "ca_fingerprint", "owner_user", "owner_password",
        /// "operator_key"}.
        #[arg(long)]
        json: bool,
    },
    /// Serve agents over QUIC and people over HTTP.
    Serve(ServeArgs),
    /// Tenants of this hub (offline: run while the hub is stopped).
    Tenants {
        #[command(subcommand)]
        command: TenantsCommand,
    },
    /// Enrollment tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Enrolled agents.
    Agents {
        #[command(subcommand)]
        command: AgentsCommand,
    },
    /// People who sign in (`POST /api/v1/auth/login`).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Scoped API keys for partners and integrations.
    ApiKeys {
        #[command(subcommand)]
        command: ApiKeysCommand,
    },
    /// Shops of the sales platforms bound to the tenant (店铺绑定).
    Shops {
        #[command(subcommand)]
        command: ShopsCommand,
    },
    /// The keys access tokens are signed with.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The hub operator's key: rotates signing keys and reads `/metrics` (offline: run while
    /// the hub is stopped).
    OperatorKey {
        #[command(subcommand)]
        command: OperatorKeyCommand,
    },
    /// Move a stopped hub's database to this version's table layout (`serve` asks for it when
    /// needed). Back up the data directory first; the move is one transaction.
    Migrate {
        /// Data directory of a stopped hub.
        #[arg(long)]
        data: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum OperatorKeyCommand {
    /// Make a new operator key, printed once; the previous one stops working.
    Create {
        /// Data directory of a stopped hub.
        #[arg(long)]
        data: PathBuf,
        /// Print JSON: {"operator_key"}.
        #[arg(long)]
        json: bool,
    },
    /// Drop the operator key: nobody rotates signing keys over HTTP until a new one is made,
    /// and only direct loopback scrapes read `/metrics`.
    Revoke {
        /// Data directory of a stopped hub.
        #[arg(long)]
        data: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Create a user; the password is read from XT_PASSWORD.
    Add {
        #[command(flatten)]
        remote: Remote,
        /// The tenant the user belongs to (must be the key's tenant).
        #[arg(long)]
        tenant: Option<TenantId>,
        #[arg(long)]
        username: String,
        /// owner | admin | manager | warehouse | finance (repeatable)
        #[arg(long = "role", required = true)]
        roles: Vec<Role>,
        /// Warehouse code the user is bound to (repeatable; needed with the warehouse role).
        #[arg(long = "warehouse")]
        warehouses: Vec<WarehouseCode>,
        #[arg(long, env = "XT_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// List the tenant's users.
    List {
        #[command(flatten)]
        remote: Remote,
        #[arg(long)]
        tenant: Option<TenantId>,
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: sign-in, refresh and access tokens stop working at once.
    Disable {
        #[command(flatten)]
        remote: Remote,
        #[arg(long)]
        tenant: Option<TenantId>,
        #[arg(long)]
        username: String,
    },
    /// Replace a user's roles (and warehouses).
    SetRoles {
        #[command(flatten)]
        remote: Remote,
        #[arg(long)]
        tenant: Option<TenantId>,
        #[arg(long)]
        username: String,
        #[arg(long = "role", required = true)]
        roles: Vec<Role>,
        #[arg(long = "warehouse")]
        warehouses: Vec<WarehouseCode>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TenantsCommand {
    /// Add a tenant with an owner API key and an owner user, printed once.
    Add {
        /// Data directory of a stopped hub.
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        tenant: TenantId,
        /// Print JSON: {"admin_key", "owner_user", "owner_password"}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApiKeysCommand {
    /// Make an API key; its secret is printed once.
    Create {
        #[command(flatten)]
        remote: Remote,
        /// A name to recognise it by (1 to 64 characters).
        #[arg(long)]
        name: String,
        /// owner | agents:read | agents:write | stock:read | events:read | dashboard:read |
        /// users:read | users:write | api_keys:write | orders:read | orders:write |
        /// shipments:read | shipments:write | shops:read | shops:write (repeatable)
        #[arg(long = "scope", required = true)]
        scopes: Vec<Scope>,
        /// Print JSON: {"key": …, "secret": …}.
        #[arg(long)]
        json: bool,
    },
    /// List the tenant's API keys, newest first (never their secrets).
    List {
        #[command(flatten)]
        remote: Remote,
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API key: it is refused from its next request on.
    Revoke {
        #[command(flatten)]
        remote: Remote,
        /// The key id (`key-…`).
        id: String,
    },
}

fn print_api_key(key: &ApiKeyView) {
    let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
    let when = |t: Option<xt_mobile_api::time::OffsetDateTime>| {
        t.and_then(|t| xt_mobile_api::utc::format(t).ok())
            .unwrap_or_else(|| "-".into())
    };
    println!(
        "{}\t{}\t{}\tlast used {}\t{}",
        key.id,
        key.name,
        scopes.join(","),
        when(key.last_used_at),
        match key.revoked_at {
            Some(t) => format!("revoked {}", when(Some(t))),
            None => "active".into(),
        }
    );
}

async fn api_keys(command: ApiKeysCommand) -> anyhow::Result<()> {
    match command {
        ApiKeysCommand::Create {
            remote,
            name,
            scopes,
            json,
        } => {
            let created = AdminClient::new(&remote.url, &remote.key)?
                .create_api_key(&ApiKeyCreate { name, scopes })
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&created)?);
            } else {
                print_api_key(&created.key);
                println!("secret: {}   (shown once: store it now)", created.secret);
            }
        }
        ApiKeysCommand::List { remote, json } => {
            let keys = AdminClient::new(&remote.url, &remote.key)?
                .list_api_keys()
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                keys.iter().for_each(print_api_key);
            }
        }
        ApiKeysCommand::Revoke { remote, id } => {
            let key = AdminClient::new(&remote.url, &remote.key)?
                .revoke_api_key(&id)
                .await?;
            print_api_key(&key);
        }
    }
    Ok(())
}

/// A credential secret from a flag or the environment: never printed, not even by `Debug`.
#[derive(Clone)]
pub struct SecretArg(pub String);

impl std::str::FromStr for SecretArg {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<SecretArg, Self::Err> {
        Ok(SecretArg(s.to_owned()))
    }
}

impl std::fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretArg(..)")
    }
}

/// A shop's credentials on the command line: the fields of its platform (taobao/tmall:
/// app key, app secret, session; jd: app key, app secret, access token; shopify: shop domain,
/// access token, webhook secret; woocommerce: consumer key, consumer secret, webhook secret).
/// Secrets are best given in the environment, so they stay out of the shell history.
#[derive(Args, Debug)]
pub struct ShopCredentialArgs {
    #[arg(long)]
    pub app_key: Option<String>,
    #[arg(long, env = "XT_SHOP_APP_SECRET", hide_env_values = true)]
    pub app_secret: Option<SecretArg>,
    #[arg(long, env = "XT_SHOP_SESSION", hide_env_values = true)]
    pub session: Option<SecretArg>,
    #[arg(long, env = "XT_SHOP_ACCESS_TOKEN", hide_env_values = true)]
    pub access_token: Option<SecretArg>,
    #[arg(long)]
    pub shop_domain: Option<String>,
    #[arg(long, env = "XT_SHOP_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<SecretArg>,
    #[arg(long)]
    pub consumer_key: Option<String>,
    #[arg(long, env = "XT_SHOP_CONSUMER_SECRET", hide_env_values = true)]
    pub consumer_secret: Option<SecretArg>,
}

impl ShopCredentialArgs {
    fn input(self) -> CredentialsInput {
        let s = |v: Option<SecretArg>| v.map(|v| v.0);
        CredentialsInput {
            app_key: self.app_key,
            app_secret: s(self.app_secret),
            session: s(self.session),
            access_token: s(self.access_token),
            shop_domain: self.shop_domain,
            webhook_secret: s(self.webhook_secret),
            consumer_key: self.consumer_key,
            consumer_secret: s(self.consumer_secret),
        }
    }
}

#[derive(Subcommand, Debug)]
// Parsed once per process: the size of `Add` costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub enum ShopsCommand {
    /// Bind a shop; its secrets are stored encrypted and never printed.
    Add {
        #[command(flatten)]
        remote: Remote,
        /// taobao | tmall | jd | shopify | woocommerce
        #[arg(long)]
        platform: String,
        /// A name to recognise it by (1 to 64 characters).
        #[arg(long)]
        name: String,
        /// Where the platform's API is reached (http or https; a sandbox or simulator works).
        #[arg(long)]
        api_base_url: String,
        /// Bind it disabled (no capture until `shops enable`).
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        credentials: ShopCredentialArgs,
        /// Print the shop as JSON (without secrets).
        #[arg(long)]
        json: bool,
    },
    /// List the tenant's shops, oldest first (never their secrets).
    List {
        #[command(flatten)]
        remote: Remote,
        #[arg(long)]
        json: bool,
    },
    /// Enable a shop.
    Enable {
        #[command(flatten)]
        remote: Remote,
        /// The shop id (`shop-…`).
        id: String,
    },
    /// Disable a shop.
    Disable {
        #[command(flatten)]
        remote: Remote,
        /// The shop id (`shop-…`).
        id: String,
    },
}

fn print_shop(shop: &ShopView) {
    let id = [
        &shop.credentials.app_key,
        &shop.credentials.shop_domain,
        &shop.credentials.consumer_key,
    ]
    .into_iter()
    .flatten()
    .next()
    .map_or("-", String::as_str);
    println!(
        "{}\t{}\t{}\t{}\t{}\t{}",
        shop.id,
        shop.platform,
        shop.name,
        shop.api_base_url,
        id,
        if shop.enabled { "enabled" } else { "disabled" },
    );
}

async fn set_shop_enabled(remote: &Remote, id: &str, enabled: bool) -> anyhow::Result<()> {
    let patch = ShopPatch {
        enabled: Some(enabled),
        ..ShopPatch::default()
    };
    let shop = AdminClient::new(&remote.url, &remote.key)?
        .update_shop(id, &patch)
        .await?;
    print_shop(&shop);
    Ok(())
}

async fn shops(command: ShopsCommand) -> anyhow::Result<()> {
    match command {
        ShopsCommand::Add {
            remote,
            platform,
            name,
            api_base_url,
            disabled,
            credentials,
            json,
        } => {
            let req = ShopCreate {
                platform,
                name,
                api_base_url,
                enabled: Some(!disabled),
                credentials: credentials.input(),
            };
            let shop = AdminClient::new(&remote.url, &remote.key)?
                .create_shop(&req)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&shop)?);
            } else {
                print_shop(&shop);
            }
        }
        ShopsCommand::List { remote, json } => {
            let shops = AdminClient::new(&remote.url, &remote.key)?
                .list_shops()
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&shops)?);
            } else {
                shops.iter().for_each(print_shop);
            }
        }
        ShopsCommand::Enable { remote, id } => set_shop_enabled(&remote, &id, true).await?,
        ShopsCommand::Disable { remote, id } => set_shop_enabled(&remote, &id, false).await?,
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a new current signing key; tokens signed by the previous one keep working until
    /// they expire. Needs the hub operator's key (no tenant's credential rotates).
    Rotate {
        /// Hub HTTP base URL.
        #[arg(
            long = "hub",
            env = "XT_HUB_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        url: String,
        /// The hub operator's key (`xto_…`, from `init` or `operator-key create`).
        #[arg(long, env = "XT_OPERATOR_KEY", hide_env_values = true)]
        operator_key: String,
    },
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[arg(long)]
    pub data: PathBuf,
    /// UDP address for agents.
    #[arg(long, default_value = "0.0.0.0:4433")]
    pub quic: SocketAddr,
    /// TCP address for the HTTP API (put a TLS proxy in front to expose it).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// Lifetime of agent certificates issued from now on (e.g. 90d, 12h).
    #[arg(long, default_value = "90d", value_parser = humantime::parse_duration)]
    pub agent_cert_ttl: Duration,
    /// A reverse proxy (ip or cidr, repeatable) whose `X-Forwarded-For` names the client for
    /// sign-in throttling per address; other peers' `X-Forwarded-For` is ignored.
    #[arg(long = "trusted-proxy", value_parser = xt_mobile_api::TrustedProxies::parse_entry)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The `host:port` agents dial to reach this hub (a public name or NAT address), shown with
    /// every new enrollment token; without it the console uses its own host and the QUIC port.
    #[arg(long, value_parser = parse_agent_address)]
    pub agent_address: Option<String>,
    #[command(flatten)]
    pub capture: crate::shops::capture::CaptureArgs,
    #[command(flatten)]
    pub log: LogArgs,
    /// How long a stop (SIGTERM, Ctrl-C) lets requests in flight, capture pages being written
    /// and agents' connections finish before what is left is aborted (e.g. 10s, 1m).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
}

/// How much of each tenant's change log (what event streams replay) the hub keeps.
#[derive(Args, Debug, Clone)]
pub struct LogArgs {
    /// Entries older than this are trimmed (e.g. 7d, 36h); a client resuming from a trimmed
    /// position gets a `reset` event and reloads.
    #[arg(long = "log-retention", default_value = "7d", value_parser = humantime::parse_duration)]
    pub retention: Duration,
    /// At most this many entries per tenant are kept.
    #[arg(long = "log-retention-entries", default_value_t = crate::events::log::LOG_RETENTION_DEFAULT.max_entries)]
    pub retention_entries: u64,
}

impl Default for LogArgs {
    fn default() -> LogArgs {
        let d = crate::events::log::LOG_RETENTION_DEFAULT;
        LogArgs {
            retention: Duration::from_millis(d.max_age_ms as u64),
            retention_entries: d.max_entries,
        }
    }
}

impl LogArgs {
    pub fn retention(&self) -> crate::events::log::LogRetention {
        crate::events::log::LogRetention {
            max_age_ms: i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX),
            max_entries: self.retention_entries,
        }
    }
}

/// `host:port` with a non-empty host of printable characters and a non-zero port.
fn parse_agent_address(s: &str) -> Result<String, String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?} is not host:port"))?;
    let port_ok = port.parse::<u16>().is_ok_and(|p| p != 0);
    let host_ok =
        !host.is_empty() && host.len() <= 253 && host.bytes().all(|b| b.is_ascii_graphic());
    if port_ok && host_ok {
        Ok(s.to_owned())
    } else {
        Err(format!("{s:?} is not host:port"))
    }
}

#[derive(Args, Debug)]
pub struct Remote {
    /// Hub HTTP base URL.
    #[arg(
        long = "hub",
        env = "XT_HUB_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// API key (admin).
    #[arg(long, env = "XT_KEY", hide_env_values = true)]
    pub key: String,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Make a one-time enrollment token for an agent.
    Create {
        #[command(flatten)]
        remote: Remote,
        /// The tenant the agent belongs to (must be the key's tenant).
        #[arg(long)]
        tenant: Option<TenantId>,
        #[arg(long)]
        site: SiteId,
        /// warehouse | finance | pos
        #[arg(long)]
        role: AgentRole,
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AgentsCommand {
    /// List agents with their sync state.
    List {
        #[command(flatten)]
        remote: Remote,
        #[arg(long)]
        json: bool,
    },
    /// Revoke an agent: its certificate is refused from now on and its connection dropped.
    Revoke {
        #[command(flatten)]
        remote: Remote,
        id: AgentId,
    },
}

/// Refuses a `--tenant` that is not the credential's (the tenant always comes from the key).
fn same_tenant(asked: Option<&TenantId>, actual: &TenantId) -> anyhow::Result<()> {
    match asked {
        Some(t) if t != actual => bail!("the key belongs to tenant {actual}, not {t}"),
        _ => Ok(()),
    }
}

fn print_user(user: &UserView) {
    let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
    let warehouses: Vec<&str> = user.warehouses.iter().map(|w| w.as_str()).collect();
    println!(
        "{}\t{}\t{}\t{}\t{}",
        user.username,
        user.id,
        roles.join(","),
        warehouses.join(","),
        if user.disabled { "disabled" } else { "active" }
    );
}

async fn users(command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::Add {
            remote,
            tenant,
            username,
            roles,
            warehouses,
            password,
        } => {
            let client = AdminClient::new(&remote.url, &remote.key)?;
            let req = UserCreate {
                username,
                password,
                roles,
                warehouses,
            };
            let user = client.create_user(&req).await?;
            same_tenant(tenant.as_ref(), &user.tenant)?;
            print_user(&user);
        }
        UsersCommand::List {
            remote,
            tenant,
            json,
        } => {
            let users = AdminClient::new(&remote.url, &remote.key)?
                .list_users()
                .await?;
            if let Some(u) = users.first() {
                same_tenant(tenant.as_ref(), &u.tenant)?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                users.iter().for_each(print_user);
            }
        }
        UsersCommand::Disable {
            remote,
            tenant,
            username,
        } => {
            let patch = UserPatch {
                disabled: Some(true),
                ..UserPatch::default()
            };
            let user = AdminClient::new(&remote.url, &remote.key)?
                .update_user(&username, &patch)
                .await?;
            same_tenant(tenant.as_ref(), &user.tenant)?;
            print_user(&user);
        }
        UsersCommand::SetRoles {
            remote,
            tenant,
            username,
            roles,
            warehouses,
        } => {
            let patch = UserPatch {
                roles: Some(roles),
                warehouses: Some(warehouses),
                disabled: None,
            };
            let user = AdminClient::new(&remote.url, &remote.key)?
                .update_user(&username, &patch)
                .await?;
            same_tenant(tenant.as_ref(), &user.tenant)?;
            print_user(&user);
        }
    }
    Ok(())
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Users { command } => users(command).await,
        Command::ApiKeys { command } => api_keys(command).await,
        Command::Shops { command } => shops(command).await,
        Command::Tenants {
            command: TenantsCommand::Add { data, tenant, json },
        } => {
            let db = data.join(DB_FILE);
            if !db.exists() {
                bail!("{} holds no hub (run `xt-hub init` first)", data.display());
            }
            let store = Store::open(&db)
                .with_context(|| format!("cannot open {} (is the hub running?)", db.display()))?;
            let made = add_tenant(&store, &tenant)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "admin_key": made.admin_key,
                        "owner_user": made.owner_user,
                        "owner_password": made.owner_password,
                    })
                );
            } else {
                println!("tenant:     {tenant}");
                println!(
                    "admin key:  {}   (shown once: store it now)",
                    made.admin_key
                );
                println!(
                    "owner user: {} / {}   (shown once: store it now)",
                    made.owner_user, made.owner_password
                );
            }
            Ok(())
        }
        Command::OperatorKey { command } => operator_key(command),
        Command::Migrate { data } => migrate(&data),
        Command::Keys {
            command: KeysCommand::Rotate { url, operator_key },
        } => {
            let rotated = AdminClient::new(&url, &operator_key)?.rotate_key().await?;
            println!("current signing key: {}", rotated.kid);
            Ok(())
        }
        Command::Init { data, tenant, json } => init(&data, &tenant, json),
        Command::Serve(args) => serve(args).await,
        Command::Token {
            command:
                TokenCommand::Create {
                    remote,
                    tenant,
                    site,
                    role,
                    ttl,
                    json,
                },
        } => {
            let client = AdminClient::new(&remote.url, &remote.key)?;
            let req = TokenRequest {
                site,
                role,
                ttl_secs: Some(ttl.as_secs().max(1)),
            };
            let created = client.create_token(&req).await?;
            if let Some(t) = tenant
                && t != created.tenant
            {
                bail!(
                    "the key belongs to tenant {}, not {t}; the token was made for {}",
                    created.tenant,
                    created.tenant
                );
            }
            if json {
                println!(
                    "{}",
                    serde_json::json!({"token": created.token, "ca_fingerprint": created.ca_fingerprint,
                        "quic_port": created.quic_port, "agent_address": created.agent_address})
                );
            } else {
                println!("token:          {}", created.token);
                println!("ca fingerprint: {}", created.ca_fingerprint);
                println!("expires at:     {}", created.expires_at);
                println!();
                // The hub says where agents dial it when its operator told it; else its host is
                // whatever name the agent machine knows it by.
                let hub = created.agent_address.clone().unwrap_or_else(|| {
                    let port = if created.quic_port == 0 {
                        4433
                    } else {
                        created.quic_port
                    };
                    format!("HUB_HOST:{port}")
                });
                println!("on the agent machine:");
                println!(
                    "  xt-agent enroll --hub {hub} --token {} --ca-fingerprint {} --data /var/lib/xt-agent",
                    created.token, created.ca_fingerprint
                );
            }
            Ok(())
        }
        Command::Agents {
            command: AgentsCommand::List { remote, json },
        } => {
            let agents = AdminClient::new(&remote.url, &remote.key)?
                .list_agents()
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&agents)?);
            } else {
                print!("{}", print_agents_table(&agents));
            }
            Ok(())
        }
        Command::Agents {
            command: AgentsCommand::Revoke { remote, id },
        } => {
            let agent = AdminClient::new(&remote.url, &remote.key)?
                .revoke_agent(&id)
                .await?;
            println!("revoked {} (site {})", agent.id, agent.site);
            Ok(())
        }
    }
}

/// Opens the store of the stopped hub in `data`.
fn open_offline(data: &Path) -> anyhow::Result<Store> {
    let db = data.join(DB_FILE);
    if !db.exists() {
        bail!("{} holds no hub (run `xt-hub init` first)", data.display());
    }
    Store::open(&db).with_context(|| format!("cannot open {} (is the hub running?)", db.display()))
}

fn migrate(data: &Path) -> anyhow::Result<()> {
    let db = data.join(DB_FILE);
    if !db.exists() {
        bail!("{} holds no hub (run `xt-hub init` first)", data.display());
    }
    let (_, done) = Store::migrate(&db)
        .with_context(|| format!("cannot migrate {} (is the hub running?)", db.display()))?;
    if done.is_empty() {
        println!(
            "{} already has table layout {}: nothing to do",
            db.display(),
            crate::store::SCHEMA_VERSION
        );
    }
    for step in done {
        println!("{step}");
    }
    Ok(())
}

fn operator_key(command: OperatorKeyCommand) -> anyhow::Result<()> {
    match command {
        OperatorKeyCommand::Create { data, json } => {
            let (secret, dropped) = make_operator_key(&open_offline(&data)?)?;
            if json {
                println!("{}", serde_json::json!({ "operator_key": secret }));
            } else {
                println!("operator key: {secret}   (shown once: store it now)");
                if dropped > 0 {
                    println!("the previous operator key no longer works");
                }
            }
        }
        OperatorKeyCommand::Revoke { data } => {
            let dropped = open_offline(&data)?.revoke_operator_keys()?;
            if dropped > 0 {
                println!("operator key revoked");
            } else {
                println!("there was no operator key");
            }
        }
    }
    Ok(())
}

/// What `init` made and prints once.
pub struct Initialized {
    pub admin_key: String,
    pub ca_fingerprint: String,
    /// The first user, an owner.
    pub owner_user: String,
    pub owner_password: String,
    /// The hub operator's key (`init` only; empty from [`add_tenant`]).
    pub operator_key: String,
}

/// Username of the owner `init` makes.
pub const OWNER_USERNAME: &str = "admin";

/// Makes the CA, the database, the first tenant and an admin API key in `data`, which is made
/// owner-only (0700) whatever the umask; an existing directory is tightened to 0700 too.
pub fn init_hub(data: &Path, tenant: &TenantId) -> anyhow::Result<Initialized> {
    std::fs::create_dir_all(data).with_context(|| format!("cannot create {}", data.display()))?;
    if data.join(crate::agents::ca::CA_CERT_FILE).exists() || data.join(DB_FILE).exists() {
        bail!(
            "{} already holds a hub; refusing to overwrite it",
            data.display()
        );
    }
    make_owner_only(data)?;
    let ca = Ca::create(data, tenant.as_str())?;
    let master_key = crate::master_key::MasterKey::load_or_create(data)?;
    let store = Store::open(&data.join(DB_FILE))?;
    let made = add_tenant(&store, tenant)?;
    crate::identity::jwt::rotate(&store, &master_key, now_ms())?;
    let (operator_key, _) = make_operator_key(&store)?;
    Ok(Initialized {
        ca_fingerprint: ca.fingerprint(),
        operator_key,
        ..made
    })
}

/// Makes the hub data directory owner-only (0700): it holds the CA key, the master key and the
/// database, so no one but the hub's user may even list it. A directory that was group- or
/// world-accessible (made beforehand, or under a loose umask) is tightened, not refused; one
/// the running user may not change is an error.
fn make_owner_only(data: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o700)).with_context(
            || {
                format!(
                    "cannot make the hub data directory {} owner-only (mode 0700); run init as \
                     the user that owns it",
                    data.display()
                )
            },
        )?;
    }
    #[cfg(not(unix))]
    let _ = data;
    Ok(())
}

/// Makes a new hub operator key in `store`, dropping the previous one; returns its secret
/// (shown once) and how many keys were dropped.
pub fn make_operator_key(store: &Store) -> anyhow::Result<(String, usize)> {
    let secret = new_secret("xto");
    let record = OperatorKeyRecord {
        id: format!("op-{}", hex::encode(rand::random::<[u8; 6]>())),
        created_at: now_ms(),
    };
    let dropped = store.replace_operator_key(&secret, &record)?;
    Ok((secret, dropped))
}

/// Adds a tenant with an `owner`-scoped API key and an owner user ([`OWNER_USERNAME`]) to
/// `store`; `ca_fingerprint` is left empty. `Conflict` if the tenant exists.
pub fn add_tenant(store: &Store, tenant: &TenantId) -> anyhow::Result<Initialized> {
    let now = now_ms();
    store.create_tenant(tenant, now)?;
    let admin_key = new_secret("xtk");
    store.insert_api_key(
        &admin_key,
        &ApiKeyRecord {
            id: crate::identity::keys::new_key_id(),
            tenant: tenant.clone(),
            name: "admin".into(),
            scopes: vec![Scope::Owner],
            created_at: now,
            created_by: CREATED_BY_INIT.into(),
            last_used_at: None,
            revoked_at: None,
        },
    )?;
    let owner_password = hex::encode(rand::random::<[u8; 16]>());
    store.insert_user(
        tenant,
        OWNER_USERNAME,
        &UserRecord {
            id: format!("u-{}", hex::encode(rand::random::<[u8; 8]>())),
            password_hash: crate::identity::password::hash(&owner_password)?,
            roles: vec![Role::Owner],
            warehouses: Vec::new(),
            disabled: false,
            created_at: now,
        },
    )?;
    Ok(Initialized {
        admin_key,
        ca_fingerprint: String::new(),
        owner_user: OWNER_USERNAME.to_owned(),
        owner_password,
        operator_key: String::new(),
    })
}

fn init(data: &Path, tenant: &TenantId, json: bool) -> anyhow::Result<()> {
    let made = init_hub(data, tenant)?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "admin_key": made.admin_key,
                "ca_fingerprint": made.ca_fingerprint,
                "owner_user": made.owner_user,
                "owner_password": made.owner_password,
                "operator_key": made.operator_key,
            })
        );
    } else {
        println!("hub initialized in {}", data.display());
        println!("tenant:         {tenant}");
        println!(
            "admin key:      {}   (shown once: store it now)",
            made.admin_key
        );
        println!("ca fingerprint: {}", made.ca_fingerprint);
        println!(
            "owner user:     {} / {}   (shown once: store it now)",
            made.owner_user, made.owner_password
        );
        println!(
            "operator key:   {}   (shown once: the hub's, not the tenant's; see INSTALL.md)",
            made.operator_key
        );
    }
    Ok(())
}

/// A running hub: QUIC and HTTP bound, every background worker under one [`Supervisor`].
pub struct Running {
    pub hub: Arc<Hub>,
    pub quic_addr: SocketAddr,
    pub http_addr: SocketAddr,
    supervisor: Supervisor,
    grace: Duration,
}

impl Running {
    /// Stops the hub gracefully within `--shutdown-grace` (see [`Running::shutdown_within`]).
    pub async fn shutdown(self) -> ShutdownReport {
        let grace = self.grace;
        self.shutdown_within(grace).await
    }

    /// Stops accepting agents and requests, lets what is in flight finish (requests, a capture
    /// page being written, a batch being applied) and waits up to `grace` for every worker;
    /// those still running then are aborted and named in the report.
    pub async fn shutdown_within(self, grace: Duration) -> ShutdownReport {
        tracing::info!(grace_ms = grace.as_millis() as u64, "xt-hub shutting down");
        self.supervisor.shutdown(grace).await
    }

    /// The names of the workers, in the order they were started.
    pub fn workers(&self) -> Vec<&'static str> {
        self.supervisor.names()
    }
}

/// The hub's composition root, used by `serve`, the demo and tests: opens the [`Hub`], binds
/// QUIC and HTTP, and starts every background worker under one [`Supervisor`]. A new worker
/// (fulfilment dispatch, inventory push) is one more `supervisor.spawn` here.
pub async fn start(args: &ServeArgs) -> anyhow::Result<Running> {
    let hub = Arc::new(Hub::open(
        &args.data,
        HubSettings {
            agent_cert_ttl: args.agent_cert_ttl,
            shop_urls: args.capture.shop_url_policy(),
            log_retention: args.log.retention(),
            ..HubSettings::default()
        },
    )?);
    let quic = crate::agents::quic::QuicServer::bind(hub.clone(), args.quic, args.shutdown_grace)
        .with_context(|| format!("cannot bind QUIC on {}", args.quic))?;
    let quic_addr = quic.local_addr()?;
    let options = xt_mobile_api::RouterOptions {
        trusted_proxies: xt_mobile_api::TrustedProxies::new(args.trusted_proxies.clone()),
        ..xt_mobile_api::RouterOptions::default()
    };
    let api = HttpApi::new(hub.clone()).with_agents_dial(crate::api::AgentsDial {
        quic_port: quic_addr.port(),
        address: args.agent_address.clone(),
    });
    let router = xt_mobile_api::router_with(api.domains(), options);
    let http = crate::http::HttpServer::bind(args.http, router).await?;
    let http_addr = http.local_addr();

    let mut supervisor = Supervisor::new();
    let quic = Arc::new(quic);
    supervisor.spawn("quic", move |token| quic.clone().run(token));
    let http = Arc::new(http);
    supervisor.spawn("http", move |token| http.clone().run(token));
    let h = hub.clone();
    supervisor.spawn("dashboard-ticker", move |token| {
        crate::dashboard::tick_gauges(h.clone(), crate::dashboard::GAUGE_TICK, token)
    });
    let h = hub.clone();
    supervisor.spawn("refresh-sweep", move |token| {
        crate::identity::refresh::sweep_periodically(h.clone(), token)
    });
    let (h, capture) = (hub.clone(), args.capture.clone());
    supervisor.spawn("capture", move |token| {
        crate::shops::capture::run(h.clone(), capture.clone(), token)
    });
    let h = hub.clone();
    supervisor.spawn("fulfilment", move |token| {
        crate::fulfilment::worker::run(h.clone(), token)
    });
    let h = hub.clone();
    supervisor.spawn("tpl-sender", move |token| {
        crate::fulfilment::senders::tpl(h.clone(), token)
    });
    let h = hub.clone();
    supervisor.spawn("write-back", move |token| {
        crate::fulfilment::senders::write_backs(h.clone(), token)
    });
    let h = hub.clone();
    supervisor.spawn("log-trimmer", move |token| {
        crate::hub::trim_logs_periodically(h.clone(), crate::hub::LOG_TRIM_TICK, token)
    });
    Ok(Running {
        hub,
        quic_addr,
        http_addr,
        supervisor,
        grace: args.shutdown_grace,
    })
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let running = start(&args).await?;
    tracing::info!(quic = %running.quic_addr, http = %running.http_addr, "xt-hub serving");
    println!(
        "xt-hub serving: agents on udp {}, http on http://{}",
        running.quic_addr, running.http_addr
    );
    shutdown_signal().await;
    running.shutdown().await;
    Ok(())
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Entry point shared by the binary and test wrappers.
pub fn main_entry() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("XT_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", xt_shared::errors::causes(e.chain()));
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn serve_gives_its_workers_the_default_grace_unless_told() {
        use clap::Parser as _;
        let serve = |extra: &[&str]| {
            let args = ["xt-hub", "serve", "--data", "/var/lib/xt-hub"];
            let cli = super::Cli::try_parse_from(args.iter().chain(extra)).unwrap();
            match cli.command {
                super::Command::Serve(args) => args.shutdown_grace,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(serve(&[]), crate::supervisor::SHUTDOWN_GRACE_DEFAULT);
        assert_eq!(
            serve(&["--shutdown-grace", "1m"]),
            std::time::Duration::from_secs(60)
        );
    }

    #[test]
    fn agent_addresses_are_host_and_port() {
        for ok in [
            "hub.example.cn:4433",
            "203.0.113.7:443",
            "[2001:db8::1]:4433",
        ] {
            assert_eq!(super::parse_agent_address(ok).as_deref(), Ok(ok));
        }
        for bad in [
            "hub.example.cn",
            ":4433",
            "hub:0",
            "hub:99999",
            "hub :4433",
            "",
        ] {
            assert!(super::parse_agent_address(bad).is_err(), "{bad:?}");
        }
    }
}
