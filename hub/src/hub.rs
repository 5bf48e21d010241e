//! The hub's core operations, shared by the QUIC server, the HTTP API and the CLI.

use crate::agents::ca::{Ca, agent_identity};
use crate::metrics::Metrics;
use crate::store::{
    AgentLogged, AgentRecord, BatchOutcome, Store, StoreError, TokenRecord, TokenRefusal,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use xt_shared::change::SourceChange;
use xt_shared::ids::{AgentId, SiteId, SourceName, TenantId};
use xt_shared::model::UtcMillis;
use xt_shared::protocol::{AgentRole, ErrorCode, Frame};
use xt_shared::sync::AdmitError;

pub const DB_FILE: &str = "hub.redb";
/// Default lifetime of an agent certificate.
pub const AGENT_CERT_TTL_DEFAULT: Duration = Duration::from_secs(90 * 24 * 3600);
/// Longest an enrollment token may live.
pub const TOKEN_TTL_MAX: Duration = Duration::from_secs(30 * 24 * 3600);

pub fn now_ms() -> UtcMillis {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    UtcMillis(d.as_millis() as i64)
}

/// Random secret with a recognisable prefix, URL-safe.
pub fn new_secret(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{prefix}_{}", hex::encode(bytes))
}

#[derive(Debug, Clone)]
pub struct HubSettings {
    pub agent_cert_ttl: Duration,
    /// How long after its first use a refresh token may be presented again (a retried request)
    /// and still be honoured instead of revoking its family.
    pub refresh_grace: Duration,
    /// Which addresses shops' API base URLs may reach (bind-time check and every capture
    /// connection); the default refuses loopback, private, link-local and metadata addresses.
    pub shop_urls: crate::shops::channels::ShopUrlPolicy,
    /// How much of each tenant's change log is kept (`serve --log-retention*`).
    pub log_retention: crate::events::log::LogRetention,
}

impl Default for HubSettings {
    fn default() -> Self {
        HubSettings {
            agent_cert_ttl: AGENT_CERT_TTL_DEFAULT,
            refresh_grace: crate::identity::REFRESH_GRACE_DEFAULT,
            shop_urls: crate::shops::channels::ShopUrlPolicy::default(),
            log_retention: crate::events::log::LogRetention::default(),
        }
    }
}

/// How often the change logs are trimmed to their retention.
pub const LOG_TRIM_TICK: Duration = Duration::from_secs(60);

/// Trims every tenant's change log to the hub's retention every `every`, on the blocking pool
/// (bounded work per tenant per tick, see [`crate::events::log::TRIM_BATCH_MAX`]), until `token`
/// is cancelled; a trim in progress finishes first.
pub async fn trim_logs_periodically(
    hub: std::sync::Arc<Hub>,
    every: Duration,
    token: crate::supervisor::CancellationToken,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = token.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        let h = hub.clone();
        let retention = hub.settings.log_retention;
        match tokio::task::spawn_blocking(move || h.store.trim_logs(retention, now_ms())).await {
            Ok(Ok(0)) => {}
            Ok(Ok(removed)) => tracing::info!(removed, "change log trimmed to its retention"),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot trim the change log"),
            Err(e) => tracing::warn!(error = %e, "change log trim did not finish"),
        }
    }
}

/// A live agent connection.
struct Live {
    conn: quinn::Connection,
    connected_at: UtcMillis,
}

/// An agent that passed the connection-time checks.
#[derive(Debug, Clone)]
pub struct Authorized {
    pub agent: AgentId,
    pub record: AgentRecord,
}

pub struct Hub {
    store: Store,
    ca: Ca,
    settings: HubSettings,
    /// Prometheus metrics, served at `GET /metrics`.
    metrics: Metrics,
    /// Seals shop credentials and the signing keys' private halves (see [`crate::master_key`]).
    master_key: crate::master_key::MasterKey,
    data_dir: PathBuf,
    live: Mutex<HashMap<AgentId, Live>>,
    /// The one path of every change into the store ([`crate::ingest`]); wakes event streams.
    ingest: crate::ingest::Pipeline,
    /// Bumped when a command was put in an agent's outbox: sessions look for new commands.
    commands: tokio::sync::watch::Sender<u64>,
    /// Bumped when fulfilment queued calls to 3PLs or write-backs to platforms.
    fulfilment_work: tokio::sync::watch::Sender<u64>,
}

impl Hub {
    /// The storage every room stores through.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The hub's CA, which signs agents' certificates.
    pub fn ca(&self) -> &Ca {
        &self.ca
    }

    pub fn settings(&self) -> &HubSettings {
        &self.settings
    }

    /// `config` under this hub's egress policy: every call out (shops, 3PLs) reaches only the
    /// addresses the operator allows.
    pub fn egress(
        &self,
        config: crate::shops::channels::ChannelConfig,
    ) -> crate::shops::channels::ChannelConfig {
        crate::shops::channels::ChannelConfig {
            shop_urls: self.settings.shop_urls.clone(),
            ..config
        }
    }

    /// Prometheus metrics, served at `GET /metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Seals shop credentials and the signing keys' private halves.
    pub fn master_key(&self) -> &crate::master_key::MasterKey {
        &self.master_key
    }

    /// The one path of every change into the store ([`crate::ingest`]).
    pub fn ingest(&self) -> &crate::ingest::Pipeline {
        &self.ingest
    }

    pub fn open(data_dir: &Path, settings: HubSettings) -> anyhow::Result<Hub> {
        use anyhow::Context;
        let ca = Ca::load(data_dir).with_context(|| {
            format!(
                "no hub CA in {} (run `xt-hub init --data {}` first)",
                data_dir.display(),
                data_dir.display()
            )
        })?;
        let store = match Store::open(&data_dir.join(DB_FILE)) {
            Ok(store) => store,
            Err(StoreError::NeedsMigration { found, current }) => anyhow::bail!(
                "{} was written by an earlier version (table layout {found}; this hub uses \
                 {current}): back up the data directory, then run `xt-hub migrate --data {}`",
                data_dir.join(DB_FILE).display(),
                data_dir.display()
            ),
            Err(e) => Err(e)
                .with_context(|| format!("cannot open {}", data_dir.join(DB_FILE).display()))?,
        };
        // Made here too for hubs initialized before shops existed; but a missing key with shops
        // already sealed under it is a lost key (a restore without it?): making a new one would
        // only make every shop's credentials unreadable, so refuse and say what to do.
        let key_file = data_dir.join(crate::master_key::MASTER_KEY_FILE);
        if !key_file.exists() && store.any_shop().context("cannot read the shops")? {
            anyhow::bail!(
                "{} is missing but shops' credentials are sealed with it: restore it from the \
                 backup taken with {DB_FILE} (see deploy/INSTALL.md)",
                key_file.display()
            );
        }
        if !key_file.exists()
            && store
                .any_sealed_signing_key()
                .context("cannot read the signing keys")?
        {
            anyhow::bail!(
                "{} is missing but the access-token signing keys are sealed with it: restore it \
                 from the backup taken with {DB_FILE} (see deploy/INSTALL.md)",
                key_file.display()
            );
        }
        let master_key = crate::master_key::MasterKey::load_or_create(data_dir)?;
        // Hubs from before sealing hold their signing keys in plain text: seal them now.
        let sealed = store
            .seal_signing_keys(&master_key)
            .context("cannot seal the signing keys")?;
        if sealed > 0 {
            tracing::info!(keys = sealed, "sealed signing keys with the master key");
        }
        Ok(Hub {
            ingest: crate::ingest::Pipeline::default(),
            commands: tokio::sync::watch::Sender::new(0),
            fulfilment_work: tokio::sync::watch::Sender::new(0),
            store,
            ca,
            settings,
            metrics: Metrics::new(),
            master_key,
            data_dir: data_dir.to_owned(),
            live: Mutex::new(HashMap::new()),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A new one-time enrollment token; the secret is returned once and stored hashed.
    pub fn create_token(
        &self,
        tenant: &TenantId,
        site: &SiteId,
        role: AgentRole,
        ttl: Duration,
    ) -> Result<(String, UtcMillis), StoreError> {
        let now = now_ms();
        let ttl = ttl.min(TOKEN_TTL_MAX);
        let expires_at = UtcMillis(now.0 + ttl.as_millis() as i64);
        let secret = new_secret("xte");
        let record = TokenRecord {
            tenant: tenant.clone(),
            site: site.clone(),
            role,
            created_at: now,
            expires_at,
            used_by: None,
        };
        self.store.insert_token(&secret, &record)?;
        Ok((secret, expires_at))
    }

    /// Redeems an enrollment token for a CSR. Returns the frame to send back. Blocks (signing,
    /// a write transaction): call it off the async workers.
    pub fn enroll(&self, token: &str, csr_der: &[u8]) -> Frame {
        // A read-only look at the token first: an unknown, used or expired token is refused
        // before any signing or write transaction, so guessing tokens costs the hub little.
        match self.store.token_refusal(token, now_ms()) {
            Ok(None) => {}
            Ok(Some(refusal)) => return token_refused(refusal),
            Err(e) => {
                tracing::error!(error = %e, "enrollment failed: cannot read the token");
                return refuse(ErrorCode::Internal, "internal error".into());
            }
        }
        let agent = AgentId::new(format!("ag-{}", hex::encode(rand::random::<[u8; 8]>())))
            .expect("generated id is a valid slug");
        // Sign (no side effects), then redeem atomically: the token is checked again in the
        // redeeming transaction, so two enrollments racing for one token make one agent.
        let issued = match self
            .ca
            .sign_agent(csr_der, &agent, self.settings.agent_cert_ttl)
        {
            Ok(i) => i,
            Err(e) => return refuse(ErrorCode::BadRequest, e.to_string()),
        };
        let now = now_ms();
        let redeemed = self.store.redeem_token(
            token,
            &agent,
            |t| AgentRecord {
                tenant: t.tenant.clone(),
                site: t.site.clone(),
                role: t.role,
                enrolled_at: now,
                cert_serial: issued.serial_hex.clone(),
                cert_not_after: UtcMillis(issued.not_after_ms),
                prev_cert_serial: None,
                revoked_at: None,
                last_seen: None,
            },
            now,
        );
        match redeemed {
            Ok(Ok(record)) => {
                tracing::info!(agent = %agent, tenant = %record.tenant, site = %record.site, role = record.role.as_str(), "agent enrolled");
                Frame::EnrollResponse {
                    agent,
                    tenant: record.tenant,
                    site: record.site,
                    role: record.role,
                    cert_der: issued.cert_der,
                    ca_der: self.ca.cert_der().to_vec(),
                }
            }
            Ok(Err(refusal)) => token_refused(refusal),
            Err(e) => {
                tracing::error!(error = %e, "enrollment failed");
                refuse(ErrorCode::Internal, "internal error".into())
            }
        }
    }

    /// Connection-time check of an agent certificate the TLS layer already verified against
    /// our CA: the agent must exist, not be revoked, and show its current (or just-replaced)
    /// certificate.
    pub fn authorize(&self, cert_der: &[u8]) -> Result<Authorized, String> {
        let (cn, serial) = agent_identity(cert_der)?;
        let agent =
            AgentId::new(cn).map_err(|e| format!("certificate names no valid agent: {e}"))?;
        let record = self
            .store
            .agent(&agent)
            .map_err(|e| format!("registry unavailable: {e}"))?
            .ok_or_else(|| format!("agent {agent} is unknown"))?;
        if record.revoked_at.is_some() {
            return Err(format!("agent {agent} is revoked"));
        }
        if record.cert_serial == serial {
            if record.prev_cert_serial.is_some() {
                // The agent now uses its renewed certificate: the old one is retired.
                let _ = self
                    .store
                    .update_agent(&agent, |r| r.prev_cert_serial = None);
            }
        } else if record.prev_cert_serial.as_deref() != Some(serial.as_str()) {
            return Err(format!(
                "agent {agent} presented a superseded certificate (serial {serial})"
            ));
        }
        Ok(Authorized { agent, record })
    }

    /// Issues a renewed certificate for a connected agent, keeping its identity.
    pub fn renew(&self, agent: &AgentId, csr_der: &[u8]) -> Frame {
        let issued = match self
            .ca
            .sign_agent(csr_der, agent, self.settings.agent_cert_ttl)
        {
            Ok(i) => i,
            Err(e) => return refuse(ErrorCode::BadRequest, e.to_string()),
        };
        let updated = self.store.update_agent(agent, |r| {
            if r.revoked_at.is_some() {
                return false;
            }
            r.prev_cert_serial = Some(std::mem::replace(
                &mut r.cert_serial,
                issued.serial_hex.clone(),
            ));
            r.cert_not_after = UtcMillis(issued.not_after_ms);
            true
        });
        match updated {
            Ok(Some((_, true))) => {
                tracing::info!(agent = %agent, serial = %issued.serial_hex, "agent certificate renewed");
                Frame::RenewResponse {
                    cert_der: issued.cert_der,
                }
            }
            Ok(_) => refuse(ErrorCode::Revoked, format!("agent {agent} is revoked")),
            Err(e) => {
                tracing::error!(error = %e, "renewal failed");
                refuse(ErrorCode::Internal, "internal error".into())
            }
        }
    }

    /// The one way a shop's items (a capture page or a webhook) come in: through the ingest
    /// pipeline ([`crate::orders::intake::ShopItems`]). The agent's counterpart is
    /// [`Hub::apply_batch`].
    pub fn ingest_shop_items(
        &self,
        tenant: &TenantId,
        shop: &str,
        items: Vec<crate::shops::channels::Captured>,
    ) -> Result<crate::store::ShopOutcome, StoreError> {
        let items = crate::orders::intake::ShopItems {
            tenant,
            shop,
            items,
        };
        self.ingest.run(&self.store, items, now_ms())
    }

    /// The one way an agent's batch comes in: through the ingest pipeline
    /// ([`crate::agents::intake::AgentBatch`]).
    pub fn apply_batch(
        &self,
        who: &Authorized,
        source: &SourceName,
        changes: Vec<SourceChange>,
    ) -> Result<Result<BatchOutcome, AdmitError>, StoreError> {
        let batch = crate::agents::intake::AgentBatch {
            tenant: &who.record.tenant,
            agent: &who.agent,
            role: who.record.role,
            source,
            changes,
        };
        self.ingest.run(&self.store, batch, now_ms())
    }

    /// Wakes event streams up: a tenant's change log grew.
    pub fn log_changed(&self) {
        self.ingest.wake();
    }

    /// Wakes agent sessions up: a command was put in an agent's outbox.
    pub fn commands_enqueued(&self) {
        self.commands.send_modify(|k| *k = k.wrapping_add(1));
    }

    /// Wakes the 3PL and write-back senders: fulfilment queued work for them.
    pub fn fulfilment_work(&self) {
        self.fulfilment_work.send_modify(|k| *k = k.wrapping_add(1));
    }

    /// A receiver that changes whenever fulfilment queued 3PL calls or write-backs.
    pub fn subscribe_fulfilment_work(&self) -> tokio::sync::watch::Receiver<u64> {
        self.fulfilment_work.subscribe()
    }

    /// A receiver that changes whenever commands were enqueued.
    pub fn subscribe_commands(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commands.subscribe()
    }

    /// A receiver that changes whenever a change log grows (its value counts the wake-ups).
    pub fn subscribe_log(&self) -> tokio::sync::watch::Receiver<u64> {
        self.ingest.subscribe()
    }

    /// Logs an agent's connection or disconnection so event streams can replay it.
    fn log_agent(&self, agent: &AgentId, connected: bool) {
        let record = match self.store.agent(agent) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read agent for the change log");
                return;
            }
        };
        let event = AgentLogged {
            tenant: record.tenant,
            agent: agent.clone(),
            site: record.site,
            connected,
            at: now_ms(),
        };
        let presence = crate::agents::intake::AgentPresence(event);
        if let Err(e) = self.ingest.run(&self.store, presence, now_ms()) {
            tracing::warn!(error = %e, "cannot log agent connection");
        }
    }

    /// Revokes an agent of `tenant` and drops its live connection.
    pub fn revoke(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
    ) -> Result<Option<AgentRecord>, StoreError> {
        match self.store.agent(agent)? {
            Some(r) if &r.tenant == tenant => {}
            _ => return Ok(None),
        }
        let now = now_ms();
        let updated = self.store.update_agent(agent, |r| {
            r.revoked_at.get_or_insert(now);
        })?;
        let mut live = self.live.lock().expect("live map");
        if let Some(gone) = live.remove(agent) {
            gone.conn
                .close(quinn::VarInt::from_u32(403), b"agent revoked");
        }
        self.metrics.set_agents_connected(live.len());
        drop(live);
        self.metrics.agent_forgotten(agent);
        tracing::warn!(agent = %agent, "agent revoked");
        Ok(updated.map(|(r, ())| r))
    }

    pub(crate) fn connected(&self, agent: &AgentId, conn: &quinn::Connection) {
        let mut live = self.live.lock().expect("live map");
        let previous = live.insert(
            agent.clone(),
            Live {
                conn: conn.clone(),
                connected_at: now_ms(),
            },
        );
        self.metrics.set_agents_connected(live.len());
        drop(live);
        if let Some(previous) = previous {
            // One connection per agent: a reconnect replaces a half-dead old one.
            if previous.conn.stable_id() != conn.stable_id() {
                previous.conn.close(
                    quinn::VarInt::from_u32(409),
                    b"replaced by a newer connection",
                );
            }
        }
        self.log_agent(agent, true);
    }

    pub(crate) fn disconnected(&self, agent: &AgentId, conn: &quinn::Connection) {
        let mut live = self.live.lock().expect("live map");
        let was_current = live
            .get(agent)
            .is_some_and(|l| l.conn.stable_id() == conn.stable_id());
        if was_current {
            live.remove(agent);
        }
        self.metrics.set_agents_connected(live.len());
        drop(live);
        let now = now_ms();
        let _ = self.store.update_agent(agent, |r| r.last_seen = Some(now));
        if was_current {
            // A replaced connection going away is not a disconnection of the agent.
            self.log_agent(agent, false);
        }
    }

    /// The agents with a live connection now.
    pub fn live_agents(&self) -> std::collections::HashSet<String> {
        self.live
            .lock()
            .expect("live map")
            .keys()
            .map(|a| a.as_str().to_owned())
            .collect()
    }

    /// Whether the agent has a live connection, and since when.
    pub fn live_since(&self, agent: &AgentId) -> Option<UtcMillis> {
        self.live
            .lock()
            .expect("live map")
            .get(agent)
            .map(|l| l.connected_at)
    }
}

/// The answer to an enrollment with a token that cannot be redeemed.
fn token_refused(refusal: TokenRefusal) -> Frame {
    let (code, message) = match refusal {
        TokenRefusal::Unknown => (ErrorCode::TokenUnknown, "enrollment token is unknown"),
        TokenRefusal::Used => (ErrorCode::TokenUsed, "enrollment token was already used"),
        TokenRefusal::Expired => (ErrorCode::TokenExpired, "enrollment token has expired"),
    };
    tracing::warn!(reason = message, "enrollment refused");
    refuse(code, message.to_owned())
}

fn refuse(code: ErrorCode, message: String) -> Frame {
    Frame::Error { code, message }
}
