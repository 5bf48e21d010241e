//! The agent's identity on disk: its key and certificate (one file, so a renewal replaces both
//! in one rename), the pinned hub CA, and what enrollment told it.

use anyhow::{Context, bail};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use xt_shared::ids::{AgentId, SiteId, TenantId};
use xt_shared::protocol::AgentRole;

const DIR: &str = "identity";
const KEY_AND_CERT: &str = "agent.pem";
const CA: &str = "ca.crt.pem";
const INFO: &str = "identity.json";

/// What enrollment told the agent about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdentityInfo {
    pub agent: AgentId,
    pub tenant: TenantId,
    pub site: SiteId,
    pub role: AgentRole,
    /// The hub address given at enrollment (`host:port`).
    pub hub: String,
    pub ca_fingerprint: String,
}

/// The loaded identity.
pub struct Identity {
    pub info: IdentityInfo,
    pub cert: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
    pub ca: CertificateDer<'static>,
}

/// Hex SHA-256 of a DER certificate.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// Normalizes what IT pasted: case, colons and spaces are ignored.
pub fn normalize_fingerprint(fp: &str) -> anyhow::Result<String> {
    let clean: String = fp
        .chars()
        .filter(|c| !matches!(c, ':' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    if clean.len() != 64 || !clean.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("ca fingerprint {fp:?} is not a hex sha-256 (64 hex digits)");
    }
    Ok(clean)
}

pub fn identity_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(DIR)
}

pub fn exists(data_dir: &Path) -> bool {
    identity_dir(data_dir).join(INFO).exists()
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ascii"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn pem_blocks(text: &str, label: &str) -> Vec<Vec<u8>> {
    use base64::Engine;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line == begin {
            current = Some(String::new());
        } else if line == end {
            if let Some(b64) = current.take()
                && let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64)
            {
                out.push(der);
            }
        } else if let Some(b) = current.as_mut() {
            b.push_str(line);
        }
    }
    out
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename), owner-only when `private`.
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        options.mode(0o600);
    }
    let mut f = options
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

impl Identity {
    pub fn save(
        data_dir: &Path,
        info: &IdentityInfo,
        cert: &[u8],
        key_pkcs8: &[u8],
        ca: &[u8],
    ) -> anyhow::Result<()> {
        let dir = identity_dir(data_dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        write_atomic(&dir.join(CA), pem("CERTIFICATE", ca).as_bytes(), false)?;
        Self::save_key_and_cert(data_dir, cert, key_pkcs8)?;
        write_atomic(
            &dir.join(INFO),
            serde_json::to_string_pretty(info)?.as_bytes(),
            false,
        )?;
        Ok(())
    }

    /// Replaces key and certificate together (renewal).
    pub fn save_key_and_cert(data_dir: &Path, cert: &[u8], key_pkcs8: &[u8]) -> anyhow::Result<()> {
        let text = format!(
            "{}{}",
            pem("CERTIFICATE", cert),
            pem("PRIVATE KEY", key_pkcs8)
        );
        write_atomic(
            &identity_dir(data_dir).join(KEY_AND_CERT),
            text.as_bytes(),
            true,
        )
    }

    pub fn load(data_dir: &Path) -> anyhow::Result<Identity> {
        let dir = identity_dir(data_dir);
        if !dir.join(INFO).exists() {
            bail!(
                "agent is not enrolled: {} does not exist (run `xt-agent enroll` first)",
                dir.join(INFO).display()
            );
        }
        let info: IdentityInfo = serde_json::from_slice(&std::fs::read(dir.join(INFO))?)
            .with_context(|| format!("{} is not valid", dir.join(INFO).display()))?;
        let both = std::fs::read_to_string(dir.join(KEY_AND_CERT))
            .with_context(|| format!("cannot read {}", dir.join(KEY_AND_CERT).display()))?;
        let cert = pem_blocks(&both, "CERTIFICATE")
            .into_iter()
            .next()
            .context("agent.pem holds no certificate")?;
        let key = pem_blocks(&both, "PRIVATE KEY")
            .into_iter()
            .next()
            .context("agent.pem holds no private key")?;
        let ca_text = std::fs::read_to_string(dir.join(CA))?;
        let ca = pem_blocks(&ca_text, "CERTIFICATE")
            .into_iter()
            .next()
            .context("ca.crt.pem holds no certificate")?;
        if fingerprint(&ca) != info.ca_fingerprint {
            bail!(
                "{} does not match the pinned fingerprint {}",
                dir.join(CA).display(),
                info.ca_fingerprint
            );
        }
        Ok(Identity {
            info,
            cert: CertificateDer::from(cert),
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
            ca: CertificateDer::from(ca),
        })
    }

    /// Validity of the current certificate, in seconds since the epoch.
    pub fn validity(&self) -> anyhow::Result<(i64, i64)> {
        cert_validity(&self.cert)
    }
}

pub fn cert_validity(cert: &[u8]) -> anyhow::Result<(i64, i64)> {
    let (_, c) = x509_parser::parse_x509_certificate(cert)
        .map_err(|e| anyhow::anyhow!("unparsable certificate: {e}"))?;
    Ok((
        c.validity().not_before.timestamp(),
        c.validity().not_after.timestamp(),
    ))
}

pub fn cert_common_name(cert: &[u8]) -> anyhow::Result<String> {
    let (_, c) = x509_parser::parse_x509_certificate(cert)
        .map_err(|e| anyhow::anyhow!("unparsable certificate: {e}"))?;
    Ok(c.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .context("certificate has no common name")?
        .to_owned())
}

/// A fresh key pair and a CSR for it. The private key never leaves this process except into
/// the owner-only identity file.
pub fn new_key_and_csr() -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    let csr = params.serialize_request(&key)?;
    Ok((key.serialize_der(), csr.der().to_vec()))
}
