//! TLS for the agent: the hub CA is pinned by fingerprint at enrollment and used as the only
//! root afterwards; the agent authenticates with its own certificate.

use crate::identity::{Identity, fingerprint};
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;
use std::time::Duration;
use xt_shared::protocol::{ALPN_ENROLL, ALPN_SYNC};

/// Keep-alive interval; the hub closes connections idle for 20 s.
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// A hub that stops answering is given up on after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Bytes quinn may hold unsent or unacknowledged on the connection. Its default (10 MB) sits on
/// top of the batches in flight, which already hold a copy until the hub acknowledges them, and
/// is most of what a draining agent holds beyond its memory budget; 2 MiB still covers the
/// bandwidth × RTT of any link an agent sits behind (20 MB/s at 100 ms).
const SEND_WINDOW_BYTES: u64 = 2 * 1024 * 1024;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts the hub only if its chain contains the CA with the pinned fingerprint and the
/// server certificate verifies against that CA.
#[derive(Debug)]
struct PinnedCa {
    fingerprint: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| fingerprint(c) == self.fingerprint)
            .ok_or_else(|| {
                rustls::Error::General("hub CA does not match the pinned fingerprint".into())
            })?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            self.provider.clone(),
        )
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?;
        inner.verify_server_cert(end_entity, &[], server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not supported".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn quic_client(tls: rustls::ClientConfig) -> anyhow::Result<quinn::ClientConfig> {
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(KEEP_ALIVE));
    transport.max_idle_timeout(Some(IDLE_TIMEOUT.try_into()?));
    transport.send_window(SEND_WINDOW_BYTES);
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// For enrollment: no client certificate yet, hub CA pinned by fingerprint.
pub fn enroll_config(ca_fingerprint: &str) -> anyhow::Result<quinn::ClientConfig> {
    let provider = provider();
    let mut tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCa {
            fingerprint: ca_fingerprint.to_owned(),
            provider,
        }))
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN_ENROLL.to_vec()];
    tls.enable_early_data = false;
    quic_client(tls)
}

/// For sync: the saved CA as the only root, the agent's certificate as client auth.
pub fn sync_config(identity: &Identity) -> anyhow::Result<quinn::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(identity.ca.clone())?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![identity.cert.clone()], identity.key.clone_key())?;
    tls.alpn_protocols = vec![ALPN_SYNC.to_vec()];
    tls.enable_early_data = false;
    quic_client(tls)
}

/// A client endpoint on an ephemeral port of the right address family.
pub fn client_endpoint(hub: std::net::SocketAddr) -> anyhow::Result<quinn::Endpoint> {
    let bind: std::net::SocketAddr = if hub.is_ipv6() {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    Ok(quinn::Endpoint::client(bind)?)
}

/// Resolves `host:port`.
pub async fn resolve(hub: &str) -> anyhow::Result<std::net::SocketAddr> {
    use anyhow::Context;
    tokio::net::lookup_host(hub)
        .await
        .with_context(|| format!("cannot resolve hub address {hub:?} (expected host:port)"))?
        .next()
        .with_context(|| format!("hub address {hub:?} resolves to nothing"))
}
