//! Access tokens: EdDSA (Ed25519) JWTs with a `kid`, signed by the hub's current key and
//! verified by any key that is current or retired less than [`SIGNING_KEY_RETENTION`] ago.
//! The private keys are stored sealed with the hub's [`MasterKey`].

use super::{ACCESS_TOKEN_TTL, AuthError, CLOCK_LEEWAY, SIGNING_KEY_RETENTION};
use crate::master_key::MasterKey;
use crate::store::{SigningKeyRecord, Store, StoreError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use xt_mobile_api::Role;
use xt_mobile_api::identity::{Jwk, Jwks};
use xt_shared::ids::{TenantId, WarehouseCode};
use xt_shared::model::UtcMillis;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The username the user signs in with (OIDC's claim name).
    pub preferred_username: String,
    pub tenant: TenantId,
    pub roles: Vec<Role>,
    pub warehouses: Vec<WarehouseCode>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

fn secs(ms: UtcMillis) -> i64 {
    ms.0.div_euclid(1000)
}

/// A fresh Ed25519 key, ready to store.
pub fn new_key(now: UtcMillis) -> Result<(String, SigningKeyRecord), AuthError> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 =
        Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| AuthError::KeyGen(e.to_string()))?;
    let pair =
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| AuthError::KeyGen(e.to_string()))?;
    let kid = format!("k-{}", hex::encode(rand::random::<[u8; 8]>()));
    let record = SigningKeyRecord {
        pkcs8: pkcs8.as_ref().to_vec(),
        public: pair.public_key().as_ref().to_vec(),
        created_at: now,
        retired_at: None,
    };
    Ok((kid, record))
}

/// Makes a new current key (retiring the previous one), sealed with `key`, and returns its kid.
pub fn rotate(store: &Store, key: &MasterKey, now: UtcMillis) -> Result<String, AuthError> {
    let (kid, record) = new_key(now)?;
    let drop_before = UtcMillis(now.0 - SIGNING_KEY_RETENTION.as_millis() as i64);
    store.install_signing_key(&kid, &record, key, drop_before, false)?;
    Ok(kid)
}

/// The current key, made now if there is none yet.
fn current(
    store: &Store,
    key: &MasterKey,
    now: UtcMillis,
) -> Result<(String, SigningKeyRecord), AuthError> {
    for _ in 0..2 {
        let keys = store.signing_keys(key)?;
        if let Some(found) = keys.into_iter().find(|(_, r)| r.retired_at.is_none()) {
            return Ok(found);
        }
        let (kid, record) = new_key(now)?;
        let drop_before = UtcMillis(now.0 - SIGNING_KEY_RETENTION.as_millis() as i64);
        if store.install_signing_key(&kid, &record, key, drop_before, true)? {
            return Ok((kid, record));
        }
    }
    Err(AuthError::KeyGen(
        "no current signing key after creating one".into(),
    ))
}

/// Signs an access token for a user, valid from `now` for [`ACCESS_TOKEN_TTL`], with the
/// current key (opened with `master`).
#[allow(clippy::too_many_arguments)]
pub fn issue(
    store: &Store,
    master: &MasterKey,
    now: UtcMillis,
    user_id: &str,
    username: &str,
    tenant: &TenantId,
    roles: &[Role],
    warehouses: &[WarehouseCode],
) -> Result<String, AuthError> {
    let (kid, key) = current(store, master, now)?;
    let iat = secs(now);
    let claims = Claims {
        sub: user_id.to_owned(),
        preferred_username: username.to_owned(),
        tenant: tenant.clone(),
        roles: roles.to_vec(),
        warehouses: warehouses.to_vec(),
        iat,
        nbf: iat,
        exp: iat + ACCESS_TOKEN_TTL.as_secs() as i64,
        jti: hex::encode(rand::random::<[u8; 16]>()),
    };
    sign(&kid, &key, &claims)
}

/// Signs `claims` with one stored key (also used by tests to mint tokens).
pub fn sign(kid: &str, key: &SigningKeyRecord, claims: &Claims) -> Result<String, AuthError> {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&key.pkcs8))
        .map_err(|e| AuthError::Sign(e.to_string()))
}

fn usable(key: &SigningKeyRecord, now: UtcMillis) -> bool {
    key.retired_at
        .is_none_or(|at| now.0 - at.0 <= SIGNING_KEY_RETENTION.as_millis() as i64)
}

/// The claims of a valid token: EdDSA only, a `kid` of a usable key, a good signature, and
/// `exp`/`nbf` within [`CLOCK_LEEWAY`] of `now`. `None` for anything else.
pub fn verify(
    store: &Store,
    master: &MasterKey,
    token: &str,
    now: UtcMillis,
) -> Result<Option<Claims>, StoreError> {
    let Ok(header) = jsonwebtoken::decode_header(token) else {
        return Ok(None);
    };
    let (Algorithm::EdDSA, Some(kid)) = (header.alg, header.kid) else {
        return Ok(None);
    };
    let Some(key) = store.signing_key(&kid, master)? else {
        return Ok(None);
    };
    if !usable(&key, now) || key.public.len() != 32 {
        return Ok(None);
    }
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.leeway = CLOCK_LEEWAY.as_secs();
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "nbf", "iat", "sub"]);
    // jsonwebtoken reads the system clock; `now` is the same clock, used for key retention.
    let decoded =
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_ed_der(&key.public), &validation);
    Ok(decoded.ok().map(|d| d.claims))
}

/// The public halves of every usable key.
pub fn jwks(store: &Store, master: &MasterKey, now: UtcMillis) -> Result<Jwks, StoreError> {
    let keys = store
        .signing_keys(master)?
        .into_iter()
        .filter(|(_, r)| usable(r, now))
        .map(|(kid, r)| Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(&r.public),
            kid,
            alg: "EdDSA".into(),
            use_: "sig".into(),
        })
        .collect();
    Ok(Jwks { keys })
}
