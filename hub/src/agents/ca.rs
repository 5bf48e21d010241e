//! The hub's certificate authority: made at `xt-hub init`, signs the hub's server certificate
//! and every agent's client certificate.

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::{
    CertificateDer, CertificateSigningRequestDer, PrivateKeyDer, PrivatePkcs8KeyDer,
};
use sha2::{Digest, Sha256};
use std::path::Path;
use time::{Duration, OffsetDateTime};
use xt_shared::ids::AgentId;
use xt_shared::protocol::HUB_SERVER_NAME;

pub const CA_CERT_FILE: &str = "ca.crt.pem";
pub const CA_KEY_FILE: &str = "ca.key.pem";

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("certificate operation failed: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("certificate signing request is not acceptable: {0}")]
    BadCsr(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CaError + '_ {
    move |source| CaError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The CA's certificate and key, loaded in memory.
pub struct Ca {
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

/// A freshly issued certificate with what the registry needs to remember about it.
pub struct Issued {
    pub cert_der: Vec<u8>,
    pub serial_hex: String,
    pub not_after_ms: i64,
}

/// Hex SHA-256 of a DER certificate: what IT compares and what agents pin.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f; // positive
    bytes[0] |= 0x01; // no leading zero byte to be stripped
    SerialNumber::from_slice(&bytes)
}

impl Ca {
    /// Makes a new CA in `dir` (refuses to overwrite an existing one).
    pub fn create(dir: &Path, tenant_hint: &str) -> Result<Ca, CaError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Xietong");
        dn.push(
            DnType::CommonName,
            format!("Xietong hub CA ({tenant_hint})"),
        );
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(365 * 20);
        params.serial_number = Some(random_serial());
        let cert = params.self_signed(&key)?;
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        write_private(&key_path, key.serialize_pem().as_bytes())?;
        std::fs::write(&cert_path, cert.pem()).map_err(io(&cert_path))?;
        let cert_der = cert.der().clone();
        Ok(Ca {
            issuer: Issuer::new(params, key),
            cert_der,
        })
    }

    pub fn load(dir: &Path) -> Result<Ca, CaError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let cert_pem = std::fs::read_to_string(&cert_path).map_err(io(&cert_path))?;
        let key_pem = std::fs::read_to_string(&key_path).map_err(io(&key_path))?;
        let key = KeyPair::from_pem(&key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)?;
        let cert_der = pem_to_der(&cert_pem).ok_or_else(|| {
            CaError::BadCsr(format!("{} holds no certificate", cert_path.display()))
        })?;
        Ok(Ca { cert_der, issuer })
    }

    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    pub fn fingerprint(&self) -> String {
        fingerprint(&self.cert_der)
    }

    /// A fresh server certificate for the QUIC endpoint, valid for `days`.
    pub fn server_cert(
        &self,
        days: i64,
    ) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), CaError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec![HUB_SERVER_NAME.to_owned()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, HUB_SERVER_NAME);
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(days);
        params.serial_number = Some(random_serial());
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer)?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((cert.der().clone(), key_der))
    }

    /// Signs an agent's CSR. Only the public key is taken from the request: the subject, names,
    /// validity and usages are the hub's to decide.
    pub fn sign_agent(
        &self,
        csr_der: &[u8],
        agent: &AgentId,
        ttl: std::time::Duration,
    ) -> Result<Issued, CaError> {
        let csr =
            CertificateSigningRequestParams::from_der(&CertificateSigningRequestDer::from(csr_der))
                .map_err(|e| CaError::BadCsr(e.to_string()))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Xietong agents");
        dn.push(DnType::CommonName, agent.as_str());
        params.distinguished_name = dn;
        params.subject_alt_names = vec![SanType::URI(
            format!("urn:xietong:agent:{agent}")
                .try_into()
                .map_err(|e: rcgen::Error| CaError::BadCsr(e.to_string()))?,
        )];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let now = OffsetDateTime::now_utc();
        let ttl = Duration::try_from(ttl).map_err(|e| CaError::BadCsr(e.to_string()))?;
        // Backdated for clock skew, but never by a large share of a short lifetime (the agent
        // renews at two thirds of the whole validity window).
        params.not_before = now - std::cmp::min(ttl / 4, Duration::minutes(5));
        let not_after = now + ttl;
        params.not_after = not_after;
        let serial = random_serial();
        params.serial_number = Some(serial.clone());
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&csr.public_key, &self.issuer)?;
        Ok(Issued {
            cert_der: cert.der().to_vec(),
            serial_hex: hex::encode(serial.to_bytes()),
            not_after_ms: (not_after.unix_timestamp_nanos() / 1_000_000) as i64,
        })
    }
}

/// The agent id and serial (hex) a client certificate carries.
pub fn agent_identity(cert_der: &[u8]) -> Result<(String, String), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| format!("unparsable certificate: {e}"))?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .ok_or("certificate has no common name")?
        .to_owned();
    Ok((cn, hex::encode(cert.raw_serial())))
}

fn pem_to_der(pem: &str) -> Option<CertificateDer<'static>> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()
        .map(CertificateDer::from)
}

/// Writes a secret file readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CaError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut f = options.open(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}
