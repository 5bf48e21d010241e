//! `xt-agent enroll`: trade a one-time token for a certificate.

use crate::identity::{self, Identity, IdentityInfo, new_key_and_csr, normalize_fingerprint};
use crate::tls;
use std::path::Path;
use std::time::Duration;
use xt_shared::protocol::{ErrorCode, Frame, HUB_SERVER_NAME};
use xt_shared::quic::{read_frame, write_frame};

const ENROLL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why enrollment failed. `Refused` means the hub said no (exit code 2); the rest are local or
/// network failures (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("the hub refused enrollment: {message}")]
    Refused { code: ErrorCode, message: String },
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

pub async fn enroll(
    hub: &str,
    token: &str,
    ca_fingerprint: &str,
    data_dir: &Path,
) -> Result<IdentityInfo, EnrollError> {
    let fp = normalize_fingerprint(ca_fingerprint)?;
    if identity::exists(data_dir) {
        return Err(anyhow::anyhow!(
            "{} already holds an enrolled identity; use another --data directory or remove it first",
            data_dir.display()
        )
        .into());
    }
    let addr = tls::resolve(hub).await?;
    let endpoint = tls::client_endpoint(addr)?;
    let result = tokio::time::timeout(ENROLL_TIMEOUT, exchange(&endpoint, addr, token, &fp)).await;
    endpoint.close(0u32.into(), b"done");
    let (key, reply) = result
        .map_err(|_| anyhow::anyhow!("hub at {hub} did not answer within {ENROLL_TIMEOUT:?}"))??;
    match reply {
        Frame::EnrollResponse {
            agent,
            tenant,
            site,
            role,
            cert_der,
            ca_der,
        } => {
            if identity::fingerprint(&ca_der) != fp {
                return Err(anyhow::anyhow!(
                    "hub sent a CA that does not match the pinned fingerprint"
                )
                .into());
            }
            let info = IdentityInfo {
                agent,
                tenant,
                site,
                role,
                hub: hub.to_owned(),
                ca_fingerprint: fp,
            };
            std::fs::create_dir_all(data_dir).map_err(anyhow::Error::from)?;
            Identity::save(data_dir, &info, &cert_der, &key, &ca_der)?;
            Ok(info)
        }
        Frame::Error { code, message } => Err(EnrollError::Refused { code, message }),
        other => Err(anyhow::anyhow!(
            "hub answered enrollment with an unexpected {} frame",
            other.name()
        )
        .into()),
    }
}

async fn exchange(
    endpoint: &quinn::Endpoint,
    addr: std::net::SocketAddr,
    token: &str,
    fp: &str,
) -> Result<(Vec<u8>, Frame), EnrollError> {
    let conn = endpoint
        .connect_with(tls::enroll_config(fp)?, addr, HUB_SERVER_NAME)
        .map_err(anyhow::Error::from)?
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to hub at {addr}: {e}"))?;
    let (mut send, mut recv) = conn.open_bi().await.map_err(anyhow::Error::from)?;
    let (key, csr) = new_key_and_csr()?;
    write_frame(
        &mut send,
        &Frame::EnrollRequest {
            token: token.to_owned(),
            csr_der: csr,
        },
    )
    .await
    .map_err(anyhow::Error::from)?;
    let _ = send.finish();
    let reply = read_frame(&mut recv)
        .await
        .map_err(anyhow::Error::from)?
        .ok_or_else(|| anyhow::anyhow!("hub closed the enrollment stream without answering"))?;
    conn.close(0u32.into(), b"enrolled");
    Ok((key, reply))
}
