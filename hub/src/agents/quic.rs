//! The QUIC server: TLS 1.3 with client certificates from the hub's CA, ALPN `xietong/1` for
//! sync and `xietong-enroll/1` for enrollment, 0-RTT off.
//!
//! Per agent connection: the first bidirectional stream carries Hello/Welcome, Status, renewal
//! and the hub's Acks; one unidirectional stream carries Batches in order. Each batch is applied
//! in one durable redb transaction before its Ack is sent.
//!
//! [`QuicServer::run`] is one of the hub's supervised workers (see [`crate::supervisor`]): it
//! tracks every session it starts, and at shutdown closes the endpoint and waits, bounded, for
//! them.

use super::commands::{COMMANDS_IN_FLIGHT_MAX, CommandAnswers};
use crate::hub::{Authorized, Hub};
use crate::identity::throttle::ClientKey;
use crate::supervisor::CancellationToken;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;
use xt_shared::command::CommandOutcome;
use xt_shared::protocol::{ALPN_ENROLL, ALPN_SYNC, ErrorCode, Frame, PROTOCOL_VERSION};
use xt_shared::quic::{read_frame, read_frame_within, write_frame};
use xt_shared::sync::AdmitError;

/// Control frames queued towards one agent.
const CONTROL_QUEUE_MAX: usize = 64;
/// How often a session looks at its agent's outbox without being woken (a missed wake-up).
const COMMAND_RESCAN: Duration = Duration::from_secs(2);
/// Idle connections are closed after this long without packets (agents send keep-alives).
const IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// The stateless-reset secret, kept across restarts.
const RESET_KEY_FILE: &str = "quic-reset.key";
/// Largest enrollment frame accepted, in bytes (a token and a CSR take well under 1 KiB);
/// checked against the length prefix, before the body is read.
pub const ENROLL_FRAME_BYTES_MAX: usize = 8 * 1024;
/// Enrollments worked on at once (CSR check, signing, the token's transaction), on the blocking
/// pool; more wait their turn.
pub const ENROLLMENTS_MAX: usize = 4;
/// Enrollment attempts one source address (an IPv6 address: its /64) may make in a burst.
pub const ENROLL_ATTEMPTS_BURST: u32 = 20;
/// After the burst, one more enrollment attempt per source address per this long.
pub const ENROLL_ATTEMPT_REFILL: Duration = Duration::from_secs(3);
/// Source addresses the enrollment rate limiter tracks before idle ones are dropped.
const ENROLL_ADDRESSES_MAX: usize = 100_000;

/// Close codes the hub uses (application error codes of QUIC CONNECTION_CLOSE).
pub mod close {
    pub const NO_CERTIFICATE: u32 = 401;
    pub const REFUSED: u32 = 403;
    pub const PROTOCOL: u32 = 400;
    pub const INTERNAL: u32 = 500;
    /// Too many enrollment attempts from this source address; retry later.
    pub const RATE_LIMITED: u32 = 429;
    /// The hub is too busy with other enrollments; retry later.
    pub const BUSY: u32 = 503;
    /// The hub is shutting down (agents reconnect as after any other close).
    pub const SHUTTING_DOWN: u32 = 0;
}

/// What bounds enrollment work: attempts per source address, and enrollments at once.
struct EnrollGate {
    attempts: governor::DefaultKeyedRateLimiter<ClientKey>,
    running: Arc<tokio::sync::Semaphore>,
}

impl EnrollGate {
    fn new() -> EnrollGate {
        let quota = governor::Quota::with_period(ENROLL_ATTEMPT_REFILL)
            .expect("a non-zero refill period")
            .allow_burst(NonZeroU32::new(ENROLL_ATTEMPTS_BURST).unwrap_or(NonZeroU32::MIN));
        EnrollGate {
            attempts: governor::DefaultKeyedRateLimiter::keyed(quota),
            running: Arc::new(tokio::sync::Semaphore::new(ENROLLMENTS_MAX)),
        }
    }

    /// Takes one attempt from the budget of `remote`'s address; false if it is spent.
    fn admit(&self, remote: SocketAddr) -> bool {
        if self.attempts.len() >= ENROLL_ADDRESSES_MAX {
            self.attempts.retain_recent();
        }
        self.attempts.check_key(&ClientKey::of(remote.ip())).is_ok()
    }
}

pub fn server_config(hub: &Hub) -> anyhow::Result<quinn::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(hub.ca().cert_der().clone())?;
    // Client certificates are verified against our CA whenever presented; the sync ALPN refuses
    // connections without one (enrollment is the only thing possible without a certificate).
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()?;
    let (cert, key) = hub.ca().server_cert(365)?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert, hub.ca().cert_der().clone()], key)?;
    tls.alpn_protocols = vec![ALPN_SYNC.to_vec(), ALPN_ENROLL.to_vec()];
    tls.max_early_data_size = 0;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(Some(IDLE_TIMEOUT.try_into()?));
    transport.max_concurrent_uni_streams(4u32.into());
    transport.max_concurrent_bidi_streams(4u32.into());
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// The endpoint config with the hub's persistent stateless-reset key: after a crash and restart,
/// the new process can tell agents at once that their old connections are gone, instead of
/// leaving them to wait for the idle timeout.
fn endpoint_config(hub: &Hub) -> anyhow::Result<quinn::EndpointConfig> {
    let path = hub.data_dir().join(RESET_KEY_FILE);
    let secret = match std::fs::read(&path) {
        Ok(bytes) if bytes.len() == 32 => bytes,
        _ => {
            let fresh: [u8; 32] = rand::random();
            crate::agents::ca::write_private(&path, &fresh)?;
            fresh.to_vec()
        }
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
    let mut config = quinn::EndpointConfig::new(Arc::new(key));
    // Connection ids carry a keyed checksum; with a persistent key the restarted hub still
    // recognizes its old ids as its own and answers them with a stateless reset.
    let cid_key = u64::from_le_bytes(secret[..8].try_into().expect("32-byte secret"));
    config.cid_generator(move || {
        Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
    });
    Ok(config)
}

/// The bound QUIC endpoint and what its sessions share; [`QuicServer::run`] is the supervised
/// worker that serves it.
pub struct QuicServer {
    hub: Arc<Hub>,
    endpoint: quinn::Endpoint,
    gate: Arc<EnrollGate>,
    /// How long a stop waits for the sessions to end and the connections to drain.
    drain: Duration,
}

impl QuicServer {
    /// Binds the endpoint on `addr`; nothing is accepted before [`QuicServer::run`]. A stop
    /// waits at most `drain` for the agents' sessions to end.
    pub fn bind(hub: Arc<Hub>, addr: SocketAddr, drain: Duration) -> anyhow::Result<QuicServer> {
        let socket = std::net::UdpSocket::bind(addr)?;
        let endpoint = quinn::Endpoint::new(
            endpoint_config(&hub)?,
            Some(server_config(&hub)?),
            socket,
            Arc::new(quinn::TokioRuntime),
        )?;
        Ok(QuicServer {
            hub,
            endpoint,
            gate: Arc::new(EnrollGate::new()),
            drain,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Accepts connections until `token` is cancelled, then closes every connection (code
    /// [`close::SHUTTING_DOWN`]; agents reconnect and resend what was not acknowledged) and
    /// waits up to the drain time for the sessions to end and the endpoint to go idle. A batch
    /// being applied is applied; its Ack may be lost, and its resend is a duplicate by seq.
    pub async fn run(self: Arc<Self>, token: CancellationToken) -> anyhow::Result<()> {
        let sessions = TaskTracker::new();
        loop {
            tokio::select! {
                () = token.cancelled() => break,
                incoming = self.endpoint.accept() => match incoming {
                    Some(incoming) => {
                        sessions.spawn(handle_incoming(self.hub.clone(), self.gate.clone(), incoming));
                    }
                    None => anyhow::bail!("the QUIC endpoint was closed while serving"),
                },
            }
        }
        self.endpoint
            .close(close::SHUTTING_DOWN.into(), b"hub shutting down");
        sessions.close();
        let drained = tokio::time::timeout(self.drain, async {
            sessions.wait().await;
            self.endpoint.wait_idle().await;
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                sessions = sessions.len(),
                drain_ms = self.drain.as_millis() as u64,
                "QUIC connections still draining at shutdown"
            );
        }
        Ok(())
    }
}

async fn handle_incoming(hub: Arc<Hub>, gate: Arc<EnrollGate>, incoming: quinn::Incoming) {
    let remote = incoming.remote_address();
    let conn = match incoming.await {
        Ok(c) => c,
        Err(e) => {
            // Expired certificates and certificates of another CA end here.
            tracing::warn!(%remote, reason = %e, "refused connection: handshake failed");
            return;
        }
    };
    let alpn = conn
        .handshake_data()
        .and_then(|h| h.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|h| h.protocol);
    match alpn.as_deref() {
        Some(ALPN_ENROLL) => {
            if gate.admit(remote) {
                enroll_session(hub, &gate, conn).await;
            } else {
                // Debug, not warn: a flood of attempts must not become a flood of log lines.
                tracing::debug!(%remote, "refused enrollment: too many attempts from this address");
                conn.close(
                    close::RATE_LIMITED.into(),
                    b"too many enrollment attempts from this address; retry later",
                );
            }
        }
        Some(ALPN_SYNC) => {
            let who = match authorize(&hub, &conn) {
                Ok(who) => who,
                Err((code, reason)) => {
                    tracing::warn!(%remote, %reason, "refused agent connection");
                    conn.close(code.into(), reason.as_bytes());
                    return;
                }
            };
            let span = tracing::info_span!("agent", agent = %who.agent, %remote);
            let _enter = span.enter();
            tracing::info!("agent connected");
            hub.connected(&who.agent, &conn);
            let result = sync_session(&hub, &who, &conn).await;
            hub.disconnected(&who.agent, &conn);
            match result {
                Ok(()) => tracing::info!("agent disconnected"),
                Err(e) => tracing::info!(reason = %e, "agent disconnected"),
            }
        }
        _ => conn.close(close::PROTOCOL.into(), b"unknown application protocol"),
    }
}

fn authorize(hub: &Hub, conn: &quinn::Connection) -> Result<Authorized, (u32, String)> {
    let certs = conn.peer_identity().and_then(|i| {
        i.downcast::<Vec<rustls_pki_types::CertificateDer<'static>>>()
            .ok()
    });
    let Some(cert) = certs.as_ref().and_then(|c| c.first()) else {
        return Err((close::NO_CERTIFICATE, "client certificate required".into()));
    };
    hub.authorize(cert)
        .map_err(|reason| (close::REFUSED, reason))
}

async fn enroll_session(hub: Arc<Hub>, gate: &EnrollGate, conn: quinn::Connection) {
    let remote = conn.remote_address();
    let Ok(Ok((mut send, mut recv))) = tokio::time::timeout(IDLE_TIMEOUT, conn.accept_bi()).await
    else {
        return;
    };
    let read = read_frame_within(&mut recv, ENROLL_FRAME_BYTES_MAX);
    let reply = match tokio::time::timeout(IDLE_TIMEOUT, read).await {
        Ok(Ok(Some(Frame::EnrollRequest { token, csr_der }))) => {
            let acquire = Arc::clone(&gate.running).acquire_owned();
            let Ok(Ok(permit)) = tokio::time::timeout(IDLE_TIMEOUT, acquire).await else {
                tracing::warn!(%remote, "refused enrollment: the hub is busy enrolling");
                conn.close(
                    close::BUSY.into(),
                    b"hub busy with other enrollments; retry later",
                );
                return;
            };
            // Signing and the token's transaction block: off the async workers, bounded (the
            // permit goes with the work, so it is held until the work ends).
            let enrolled = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                hub.enroll(&token, &csr_der)
            })
            .await;
            match enrolled {
                Ok(frame) => frame,
                Err(e) => {
                    tracing::error!(%remote, error = %e, "enrollment did not finish");
                    Frame::Error {
                        code: ErrorCode::Internal,
                        message: "internal error".into(),
                    }
                }
            }
        }
        Ok(Ok(Some(other))) => Frame::Error {
            code: ErrorCode::BadRequest,
            message: format!("expected an enroll request, got {}", other.name()),
        },
        Ok(Ok(None)) | Err(_) => return,
        Ok(Err(e)) => {
            tracing::warn!(%remote, error = %e, "bad enrollment frame");
            Frame::Error {
                code: ErrorCode::BadRequest,
                message: format!("bad enrollment frame: {e}"),
            }
        }
    };
    let _ = write_frame(&mut send, &reply).await;
    let _ = send.finish();
    // Give the reply time to leave before the connection goes away.
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
}

async fn sync_session(
    hub: &Arc<Hub>,
    who: &Authorized,
    conn: &quinn::Connection,
) -> anyhow::Result<()> {
    let (mut ctl_send, mut ctl_recv) = conn.accept_bi().await?;
    match read_frame(&mut ctl_recv).await? {
        Some(Frame::Hello {
            protocol,
            agent_version,
            sources,
        }) => {
            if protocol != PROTOCOL_VERSION {
                let message = format!(
                    "hub speaks protocol {PROTOCOL_VERSION}, agent {agent_version} speaks {protocol}"
                );
                write_frame(
                    &mut ctl_send,
                    &Frame::Error {
                        code: ErrorCode::ProtocolVersion,
                        message: message.clone(),
                    },
                )
                .await?;
                let _ = ctl_send.finish();
                anyhow::bail!(message);
            }
            tracing::info!(%agent_version, "hello");
            hub.metrics().agent_reported(&who.agent, &sources);
            let hub2 = hub.clone();
            let (tenant, agent) = (who.record.tenant.clone(), who.agent.clone());
            tokio::task::spawn_blocking(move || {
                hub2.store()
                    .record_status(&tenant, &agent, &sources, crate::hub::now_ms())
            })
            .await??;
        }
        other => {
            conn.close(close::PROTOCOL.into(), b"expected hello");
            anyhow::bail!("expected hello, got {:?}", other.map(|f| f.name()));
        }
    }
    let resume = hub.store().resume_points(&who.record.tenant, &who.agent)?;
    write_frame(
        &mut ctl_send,
        &Frame::Welcome {
            protocol: PROTOCOL_VERSION,
            agent: who.agent.clone(),
            resume,
        },
    )
    .await?;

    let (tx, mut rx) = mpsc::channel::<Frame>(CONTROL_QUEUE_MAX);
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            write_frame(&mut ctl_send, &frame).await?;
        }
        anyhow::Ok(())
    });
    let control = {
        let (hub, who, tx) = (hub.clone(), who.clone(), tx.clone());
        tokio::spawn(async move { control_loop(hub, who, ctl_recv, tx).await })
    };
    let batches = {
        let (hub, who, conn) = (hub.clone(), who.clone(), conn.clone());
        tokio::spawn(async move { batch_loop(hub, who, conn, tx).await })
    };
    let commands = {
        let (hub, who, conn) = (hub.clone(), who.clone(), conn.clone());
        tokio::spawn(async move { command_loop(hub, who, conn).await })
    };
    // Whichever ends first ends the session.
    let result = tokio::select! {
        r = control => r.map_err(anyhow::Error::from).and_then(|r| r),
        r = batches => r.map_err(anyhow::Error::from).and_then(|r| r),
        r = commands => r.map_err(anyhow::Error::from).and_then(|r| r),
        r = conn.closed() => Err(anyhow::anyhow!(r)),
    };
    writer.abort();
    if let Err(e) = &result {
        conn.close(close::PROTOCOL.into(), e.to_string().as_bytes());
    }
    result
}

async fn control_loop(
    hub: Arc<Hub>,
    who: Authorized,
    mut recv: quinn::RecvStream,
    tx: mpsc::Sender<Frame>,
) -> anyhow::Result<()> {
    while let Some(frame) = read_frame(&mut recv).await? {
        match frame {
            Frame::Status { sources } => {
                hub.metrics().agent_reported(&who.agent, &sources);
                let (hub, tenant, agent) =
                    (hub.clone(), who.record.tenant.clone(), who.agent.clone());
                tokio::task::spawn_blocking(move || {
                    hub.store()
                        .record_status(&tenant, &agent, &sources, crate::hub::now_ms())
                })
                .await??;
            }
            Frame::RenewRequest { csr_der } => {
                let (hub2, agent) = (hub.clone(), who.agent.clone());
                let reply =
                    tokio::task::spawn_blocking(move || hub2.renew(&agent, &csr_der)).await?;
                tx.send(reply).await?;
            }
            other => anyhow::bail!("unexpected {} frame on the control stream", other.name()),
        }
    }
    Ok(())
}

async fn batch_loop(
    hub: Arc<Hub>,
    who: Authorized,
    conn: quinn::Connection,
    tx: mpsc::Sender<Frame>,
) -> anyhow::Result<()> {
    let mut recv = conn.accept_uni().await?;
    while let Some(frame) = read_frame(&mut recv).await? {
        let Frame::Batch {
            batch_id,
            source,
            changes,
        } = frame
        else {
            anyhow::bail!("unexpected {} frame on the batch stream", frame.name());
        };
        let rows = changes.len();
        let (hub2, who2, source2) = (hub.clone(), who.clone(), source.clone());
        let outcome =
            tokio::task::spawn_blocking(move || hub2.apply_batch(&who2, &source2, changes))
                .await??;
        let ack = match outcome {
            Ok(o) => {
                tracing::debug!(%source, batch_id, rows, applied = o.applied, skipped = o.skipped, applied_seq = o.applied_seq, "batch applied");
                hub.metrics()
                    .batch_applied(o.applied, o.rejected.len() as u64);
                for r in &o.rejected {
                    tracing::warn!(%source, seq = r.seq, reason = %r.reason, "change rejected");
                }
                Frame::Ack {
                    batch_id,
                    source,
                    applied_seq: o.applied_seq,
                    rejected: o.rejected,
                }
            }
            Err(e @ (AdmitError::Gap { .. } | AdmitError::NotConsecutive { .. })) => {
                tracing::warn!(%source, batch_id, error = %e, "batch refused");
                let applied = hub
                    .store()
                    .resume_points(&who.record.tenant, &who.agent)?
                    .into_iter()
                    .find(|p| p.source == source)
                    .map_or(0, |p| p.applied_seq);
                Frame::Ack {
                    batch_id,
                    source,
                    applied_seq: applied,
                    rejected: vec![],
                }
            }
        };
        tx.send(ack).await?;
    }
    Ok(())
}

/// The command stream: an agent with sinks opens a second bidirectional stream with
/// `CommandsReady`; the hub sends every unanswered command of the agent's outbox in seq order
/// (all of them again on every new session), at most [`COMMANDS_IN_FLIGHT_MAX`] unanswered at
/// once, and takes the answers through the pipeline. An agent that never opens the stream (one
/// older than commands, or one without sinks) is never sent a command. Never ends the session
/// by itself unless the stream breaks.
async fn command_loop(
    hub: Arc<Hub>,
    who: Authorized,
    conn: quinn::Connection,
) -> anyhow::Result<()> {
    let (mut send, mut recv) = match conn.accept_bi().await {
        Ok(stream) => stream,
        // The connection ended: the session's own select sees that.
        Err(_) => return std::future::pending().await,
    };
    match read_frame(&mut recv).await? {
        Some(Frame::CommandsReady { sinks }) => {
            tracing::info!(?sinks, "agent takes commands");
        }
        other => anyhow::bail!(
            "expected commands ready on the command stream, got {:?}",
            other.map(|f| f.name())
        ),
    }
    let tenant = who.record.tenant.clone();
    // Seqs sent on this stream and not answered yet.
    let in_flight = Arc::new(std::sync::Mutex::new(
        std::collections::BTreeSet::<u64>::new(),
    ));
    // Answers are read as they come and applied in batches: all that arrived while the last
    // batch was being committed go into one transaction.
    let (answered_tx, mut answered_rx) =
        mpsc::channel::<(u64, CommandOutcome)>(COMMANDS_IN_FLIGHT_MAX);
    let reading = async move {
        while let Some(frame) = read_frame(&mut recv).await? {
            let Frame::CommandResult { seq, outcome } = frame else {
                anyhow::bail!("unexpected {} frame on the command stream", frame.name());
            };
            if answered_tx.send((seq, outcome)).await.is_err() {
                break;
            }
        }
        anyhow::Ok(())
    };
    let answers = {
        let (hub, who, in_flight) = (hub.clone(), who.clone(), in_flight.clone());
        let mut wake = hub.subscribe_commands();
        async move {
            while let Some(first) = answered_rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < COMMANDS_IN_FLIGHT_MAX {
                    match answered_rx.try_recv() {
                        Ok(answer) => batch.push(answer),
                        Err(_) => break,
                    }
                }
                let seqs: Vec<u64> = batch.iter().map(|(seq, _)| *seq).collect();
                let hub2 = hub.clone();
                let who2 = who.clone();
                let answered = tokio::task::spawn_blocking(move || {
                    hub2.ingest().run(
                        hub2.store(),
                        CommandAnswers {
                            tenant: &who2.record.tenant,
                            agent: &who2.agent,
                            answers: batch,
                        },
                        crate::hub::now_ms(),
                    )
                })
                .await??;
                tracing::debug!(answers = seqs.len(), ?answered, "commands answered");
                let mut set = in_flight.lock().expect("in-flight set");
                for seq in &seqs {
                    set.remove(seq);
                }
                drop(set);
                // Room for more commands on the wire.
                hub.commands_enqueued();
                wake.mark_changed();
            }
            anyhow::Ok(())
        }
    };
    let mut wake = hub.subscribe_commands();
    let mut sent_through = 0u64;
    let mut tick = tokio::time::interval(COMMAND_RESCAN);
    let sending = async {
        loop {
            let room = COMMANDS_IN_FLIGHT_MAX
                .saturating_sub(in_flight.lock().expect("in-flight set").len());
            if room > 0 {
                let (hub2, tenant2, agent2) = (hub.clone(), tenant.clone(), who.agent.clone());
                let pending = tokio::task::spawn_blocking(move || {
                    hub2.store()
                        .pending_commands(&tenant2, &agent2, sent_through, room)
                })
                .await??;
                for (seq, command) in pending {
                    in_flight.lock().expect("in-flight set").insert(seq);
                    write_frame(&mut send, &Frame::Command { seq, command }).await?;
                    sent_through = seq;
                }
            }
            tokio::select! {
                r = wake.changed() => r?,
                _ = tick.tick() => {}
            }
        }
        #[allow(unreachable_code)]
        anyhow::Ok(())
    };
    // The agent finishing its side ends `reading`; the answers already read are still applied.
    let answering = async { tokio::try_join!(reading, answers).map(|_| ()) };
    tokio::select! {
        r = answering => r,
        r = sending => r,
    }
}
