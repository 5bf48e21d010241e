//! [`IdentityApi`](xt_mobile_api::IdentityApi), users and sessions: access tokens, sign-in,
//! refresh, users.

use crate::api::{internal, utc};
use crate::hub::Hub;
use crate::hub::now_ms;
use crate::identity::keys::KeyUses;
use crate::identity::throttle::LoginThrottle;
use crate::identity::{ACCESS_TOKEN_TTL, REFRESH_TOKEN_TTL, jwt, password, refresh};
use crate::metrics::LoginFailure;
use crate::store::{StoreError, UserRecord};
use std::net::IpAddr;
use std::sync::Arc;
use xt_mobile_api::access::may_grant;
use xt_mobile_api::identity::{
    Jwks, KeyRotated, LoginRequest, TokenPair, UserCreate, UserPatch, UserView, check_roles,
};
use xt_mobile_api::{
    ApiError, ApiKeyCreate, ApiKeyMade, ApiKeyOwned, IdentityApi, Principal, PrincipalKind,
};
use xt_shared::ids::TenantId;
use xt_shared::model::UtcMillis;

fn view(tenant: &TenantId, username: String, r: UserRecord) -> Result<UserView, ApiError> {
    Ok(UserView {
        id: r.id,
        tenant: tenant.clone(),
        username,
        roles: r.roles,
        warehouses: r.warehouses,
        disabled: r.disabled,
        created_at: utc(r.created_at)?,
    })
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(message) => ApiError::Conflict(message),
        other => internal(other),
    }
}

/// The identity room's service: credentials, sign-in (throttled), sessions, users, signing keys
/// and partner API keys.
pub struct IdentityService {
    pub(super) hub: Arc<Hub>,
    pub(super) throttle: LoginThrottle,
    pub(super) key_uses: KeyUses,
}

impl IdentityService {
    pub fn new(hub: Arc<Hub>, throttle: LoginThrottle) -> IdentityService {
        IdentityService {
            hub,
            throttle,
            key_uses: KeyUses::default(),
        }
    }
}

impl IdentityService {
    /// The principal of a valid access token. Roles and warehouses are read from the user as
    /// stored now, so disabling a user or changing roles applies to tokens already issued.
    pub(super) fn access_principal(&self, token: &str) -> Result<Option<Principal>, ApiError> {
        let store = &self.hub.store();
        let Some(claims) =
            jwt::verify(store, self.hub.master_key(), token, now_ms()).map_err(internal)?
        else {
            return Ok(None);
        };
        let user = store
            .user(&claims.tenant, &claims.preferred_username)
            .map_err(internal)?;
        Ok(user
            .filter(|u| u.id == claims.sub && !u.disabled)
            .map(|u| Principal {
                tenant: claims.tenant,
                subject: u.id,
                kind: PrincipalKind::User,
                username: Some(claims.preferred_username),
                roles: u.roles,
                warehouses: u.warehouses,
                scopes: Vec::new(),
            }))
    }

    fn pair(
        &self,
        now: UtcMillis,
        tenant: &TenantId,
        username: &str,
        user: &UserRecord,
        refresh_token: Option<String>,
    ) -> Result<TokenPair, ApiError> {
        let store = &self.hub.store();
        let access_token = jwt::issue(
            store,
            self.hub.master_key(),
            now,
            &user.id,
            username,
            tenant,
            &user.roles,
            &user.warehouses,
        )
        .map_err(internal)?;
        let refresh_token = match refresh_token {
            Some(t) => t,
            None => refresh::start(store, now, tenant, username, &user.id).map_err(internal)?,
        };
        Ok(TokenPair {
            access_token,
            token_type: "Bearer".into(),
            expires_in: ACCESS_TOKEN_TTL.as_secs(),
            refresh_token,
            refresh_expires_in: REFRESH_TOKEN_TTL.as_secs(),
        })
    }

    pub(super) fn sign_in(
        &self,
        req: &LoginRequest,
        client: Option<IpAddr>,
    ) -> Result<TokenPair, ApiError> {
        self.throttle
            .check(&req.tenant, &req.username, client)
            .map_err(|secs| {
                tracing::warn!(tenant = %req.tenant, "sign-in throttled");
                self.hub.metrics().login_failed(LoginFailure::throttled);
                ApiError::TooManyRequests {
                    retry_after_secs: secs.max(1),
                }
            })?;
        let user = self
            .hub
            .store()
            .user(&req.tenant, &req.username)
            .map_err(internal)?;
        let accepted = match &user {
            Some(u) => password::verify(&req.password, &u.password_hash) && !u.disabled,
            None => {
                password::verify_dummy(&req.password);
                false
            }
        };
        match user {
            Some(u) if accepted => {
                tracing::info!(tenant = %req.tenant, user = %u.id, "signed in");
                self.pair(now_ms(), &req.tenant, &req.username, &u, None)
            }
            _ => {
                tracing::info!(tenant = %req.tenant, "sign-in refused");
                self.hub
                    .metrics()
                    .login_failed(LoginFailure::bad_credentials);
                Err(ApiError::Unauthorized)
            }
        }
    }

    pub(super) fn refresh_pair(&self, token: &str) -> Result<TokenPair, ApiError> {
        let store = &self.hub.store();
        let now = now_ms();
        let grace = self.hub.settings().refresh_grace;
        let Some((successor, record)) =
            refresh::rotate(store, now, token, grace).map_err(internal)?
        else {
            return Err(ApiError::Unauthorized);
        };
        let user = store
            .user(&record.tenant, &record.username)
            .map_err(internal)?
            .filter(|u| u.id == record.user_id && !u.disabled);
        let Some(user) = user else {
            refresh::revoke(store, now, &successor).map_err(internal)?;
            return Err(ApiError::Unauthorized);
        };
        self.pair(
            now,
            &record.tenant,
            &record.username,
            &user,
            Some(successor),
        )
    }

    pub(super) fn sign_out(&self, token: &str) -> Result<(), ApiError> {
        refresh::revoke(self.hub.store(), now_ms(), token).map_err(internal)?;
        Ok(())
    }

    pub(super) fn add_user(
        &self,
        tenant: &TenantId,
        req: &UserCreate,
    ) -> Result<UserView, ApiError> {
        req.validate()?;
        let record = UserRecord {
            id: format!("u-{}", hex::encode(rand::random::<[u8; 8]>())),
            password_hash: password::hash(&req.password).map_err(internal)?,
            roles: req.roles.clone(),
            warehouses: req.warehouses.clone(),
            disabled: false,
            created_at: now_ms(),
        };
        self.hub
            .store()
            .insert_user(tenant, &req.username, &record)
            .map_err(store_error)?;
        view(tenant, req.username.clone(), record)
    }

    pub(super) fn users(&self, tenant: &TenantId) -> Result<Vec<UserView>, ApiError> {
        let users = self.hub.store().users(tenant).map_err(internal)?;
        users
            .into_iter()
            .map(|(username, r)| view(tenant, username, r))
            .collect()
    }

    pub(super) fn change_user(
        &self,
        principal: &Principal,
        username: &str,
        patch: &UserPatch,
    ) -> Result<UserView, ApiError> {
        let updated = self
            .hub
            .store()
            .update_user(&principal.tenant, username, now_ms(), |r| {
                // Nobody changes a user they could not have made, nor into one.
                if !may_grant(principal, &r.roles, &r.warehouses) {
                    return Err(ApiError::Forbidden);
                }
                if let Some(roles) = &patch.roles {
                    r.roles.clone_from(roles);
                }
                if let Some(warehouses) = &patch.warehouses {
                    r.warehouses.clone_from(warehouses);
                }
                if let Some(disabled) = patch.disabled {
                    r.disabled = disabled;
                }
                check_roles(&r.roles, &r.warehouses)?;
                if !may_grant(principal, &r.roles, &r.warehouses) {
                    return Err(ApiError::Forbidden);
                }
                Ok(())
            })
            .map_err(internal)?;
        match updated {
            None => Err(ApiError::NotFound(format!("user {username:?} not found"))),
            Some(result) => {
                let (user, revoked) = result?;
                if revoked > 0 {
                    tracing::info!(user = %user.id, keys = revoked, "api keys of a disabled user revoked");
                }
                view(&principal.tenant, username.to_owned(), user)
            }
        }
    }
}

impl IdentityApi for IdentityService {
    fn authenticate_key(&self, secret: &str) -> Result<Option<Principal>, ApiError> {
        self.key_principal(secret)
    }

    fn authenticate_operator(&self, secret: &str) -> Result<bool, ApiError> {
        let found = self.hub.store().operator_key(secret).map_err(internal)?;
        Ok(found.is_some())
    }

    fn authenticate_access_token(&self, token: &str) -> Result<Option<Principal>, ApiError> {
        self.access_principal(token)
    }

    fn login(&self, req: &LoginRequest, client: Option<IpAddr>) -> Result<TokenPair, ApiError> {
        self.sign_in(req, client)
    }

    fn refresh(&self, refresh_token: &str) -> Result<TokenPair, ApiError> {
        self.refresh_pair(refresh_token)
    }

    fn logout(&self, refresh_token: &str) -> Result<(), ApiError> {
        self.sign_out(refresh_token)
    }

    fn jwks(&self) -> Result<Jwks, ApiError> {
        let now = crate::hub::now_ms();
        crate::identity::jwt::jwks(self.hub.store(), self.hub.master_key(), now).map_err(internal)
    }

    fn rotate_signing_key(&self) -> Result<KeyRotated, ApiError> {
        let now = crate::hub::now_ms();
        let kid = crate::identity::jwt::rotate(self.hub.store(), self.hub.master_key(), now)
            .map_err(internal)?;
        Ok(KeyRotated { kid })
    }

    fn create_user(&self, tenant: &TenantId, req: &UserCreate) -> Result<UserView, ApiError> {
        self.add_user(tenant, req)
    }

    fn list_users(&self, tenant: &TenantId) -> Result<Vec<UserView>, ApiError> {
        self.users(tenant)
    }

    fn update_user(
        &self,
        principal: &Principal,
        username: &str,
        patch: &UserPatch,
    ) -> Result<UserView, ApiError> {
        self.change_user(principal, username, patch)
    }

    fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyOwned>, ApiError> {
        self.keys(tenant)
    }

    fn create_api_key(
        &self,
        principal: &Principal,
        req: &ApiKeyCreate,
    ) -> Result<ApiKeyMade, ApiError> {
        self.add_key(principal, req)
    }

    fn revoke_api_key(&self, tenant: &TenantId, id: &str) -> Result<ApiKeyOwned, ApiError> {
        self.drop_key(tenant, id)
    }
}
