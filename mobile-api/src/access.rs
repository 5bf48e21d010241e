//! The permission model: what a user's roles and an API key's scopes allow.
//!
//! Handlers ask [`Principal::allows`](crate::Principal::allows) for one [`Permission`]; the two
//! tables below ([`Role::permissions`] and [`Scope::permissions`]) are the only place that says
//! who may do what.

use crate::api::{Principal, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use xt_shared::ids::WarehouseCode;

/// One thing a caller may do. Serialized as the lowercase strings of `GET /api/v1/me`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum Permission {
    #[serde(rename = "agents:read")]
    AgentsRead,
    /// Revoke agents, make enrollment tokens.
    #[serde(rename = "agents:write")]
    AgentsWrite,
    #[serde(rename = "stock:read")]
    StockRead,
    #[serde(rename = "events:read")]
    EventsRead,
    #[serde(rename = "dashboard:read")]
    DashboardRead,
    #[serde(rename = "users:read")]
    UsersRead,
    #[serde(rename = "users:write")]
    UsersWrite,
    /// List, create and revoke API keys.
    #[serde(rename = "api_keys:write")]
    ApiKeysWrite,
    /// Rotate the hub's token signing keys. Hub-wide: no role or scope grants it any more (the
    /// hub operator's key does it); kept because it is serialized.
    #[serde(rename = "keys:rotate")]
    KeysRotate,
    /// Read the hub's metrics. Hub-wide: no role or scope grants it any more (the hub
    /// operator's key or a direct loopback scrape does); kept because it is serialized.
    #[serde(rename = "metrics:read")]
    MetricsRead,
    #[serde(rename = "orders:read")]
    OrdersRead,
    #[serde(rename = "orders:write")]
    OrdersWrite,
    #[serde(rename = "shipments:read")]
    ShipmentsRead,
    #[serde(rename = "shipments:write")]
    ShipmentsWrite,
    /// See the tenant's shops (never their secrets).
    #[serde(rename = "shops:read")]
    ShopsRead,
    /// Bind shops and change them, credentials included; configure the warehouses dispatch
    /// chooses from (a 3PL's Qimen secret included).
    #[serde(rename = "shops:write")]
    ShopsWrite,
}

impl Permission {
    /// Every permission, in a stable order.
    pub const ALL: &'static [Permission] = &[
        Permission::AgentsRead,
        Permission::AgentsWrite,
        Permission::StockRead,
        Permission::EventsRead,
        Permission::DashboardRead,
        Permission::UsersRead,
        Permission::UsersWrite,
        Permission::ApiKeysWrite,
        Permission::KeysRotate,
        Permission::MetricsRead,
        Permission::OrdersRead,
        Permission::OrdersWrite,
        Permission::ShipmentsRead,
        Permission::ShipmentsWrite,
        Permission::ShopsRead,
        Permission::ShopsWrite,
    ];
}

/// What an API key may do, granted when the key is made. Serialized as `owner`,
/// `agents:read`, `stock:read` … . The hub stores keys' scopes through its own mirror
/// (`xt-hub`'s `store::enums`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum Scope {
    /// Everything the owner role may do.
    #[serde(rename = "owner")]
    Owner,
    #[serde(rename = "agents:read")]
    AgentsRead,
    #[serde(rename = "agents:write")]
    AgentsWrite,
    #[serde(rename = "stock:read")]
    StockRead,
    #[serde(rename = "events:read")]
    EventsRead,
    #[serde(rename = "dashboard:read")]
    DashboardRead,
    #[serde(rename = "users:read")]
    UsersRead,
    #[serde(rename = "users:write")]
    UsersWrite,
    #[serde(rename = "api_keys:write")]
    ApiKeysWrite,
    #[serde(rename = "orders:read")]
    OrdersRead,
    #[serde(rename = "orders:write")]
    OrdersWrite,
    #[serde(rename = "shipments:read")]
    ShipmentsRead,
    #[serde(rename = "shipments:write")]
    ShipmentsWrite,
    #[serde(rename = "shops:read")]
    ShopsRead,
    #[serde(rename = "shops:write")]
    ShopsWrite,
}

impl Scope {
    /// Every scope, in a stable order.
    pub const ALL: &'static [Scope] = &[
        Scope::Owner,
        Scope::AgentsRead,
        Scope::AgentsWrite,
        Scope::StockRead,
        Scope::EventsRead,
        Scope::DashboardRead,
        Scope::UsersRead,
        Scope::UsersWrite,
        Scope::ApiKeysWrite,
        Scope::OrdersRead,
        Scope::OrdersWrite,
        Scope::ShipmentsRead,
        Scope::ShipmentsWrite,
        Scope::ShopsRead,
        Scope::ShopsWrite,
    ];

    /// The scope → permissions table: `owner` is the owner role, every other scope grants
    /// exactly its one permission (so no scope grants `keys:rotate` or `metrics:read`).
    pub fn permissions(self) -> &'static [Permission] {
        use Permission as P;
        match self {
            Scope::Owner => Role::Owner.permissions(),
            Scope::AgentsRead => &[P::AgentsRead],
            Scope::AgentsWrite => &[P::AgentsWrite],
            Scope::StockRead => &[P::StockRead],
            Scope::EventsRead => &[P::EventsRead],
            Scope::DashboardRead => &[P::DashboardRead],
            Scope::UsersRead => &[P::UsersRead],
            Scope::UsersWrite => &[P::UsersWrite],
            Scope::ApiKeysWrite => &[P::ApiKeysWrite],
            Scope::OrdersRead => &[P::OrdersRead],
            Scope::OrdersWrite => &[P::OrdersWrite],
            Scope::ShipmentsRead => &[P::ShipmentsRead],
            Scope::ShipmentsWrite => &[P::ShipmentsWrite],
            Scope::ShopsRead => &[P::ShopsRead],
            Scope::ShopsWrite => &[P::ShopsWrite],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Owner => "owner",
            Scope::AgentsRead => "agents:read",
            Scope::AgentsWrite => "agents:write",
            Scope::StockRead => "stock:read",
            Scope::EventsRead => "events:read",
            Scope::DashboardRead => "dashboard:read",
            Scope::UsersRead => "users:read",
            Scope::UsersWrite => "users:write",
            Scope::ApiKeysWrite => "api_keys:write",
            Scope::OrdersRead => "orders:read",
            Scope::OrdersWrite => "orders:write",
            Scope::ShipmentsRead => "shipments:read",
            Scope::ShipmentsWrite => "shipments:write",
            Scope::ShopsRead => "shops:read",
            Scope::ShopsWrite => "shops:write",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Scope, String> {
        Scope::ALL
            .iter()
            .copied()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown scope {s:?} ({})", known.join(", "))
            })
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Role {
    /// The role → permissions table.
    ///
    /// | role      | permissions                                                        |
    /// |-----------|--------------------------------------------------------------------|
    /// | owner     | everything of the tenant (all but the hub-wide `keys:rotate`, `metrics:read`) |
    /// | admin     | the same as owner; what sets owners apart is [`may_grant`]         |
    /// | manager   | agents:read, stock:read, events:read, dashboard:read, orders:read, shipments:read, shops:read |
    /// | warehouse | stock:read, events:read, dashboard:read, shipments:read, shipments:write (stock of its warehouses only) |
    /// | finance   | stock:read, events:read, dashboard:read, orders:read               |
    pub fn permissions(self) -> &'static [Permission] {
        use Permission as P;
        match self {
            Role::Owner | Role::Admin => &[
                P::AgentsRead,
                P::AgentsWrite,
                P::StockRead,
                P::EventsRead,
                P::DashboardRead,
                P::UsersRead,
                P::UsersWrite,
                P::ApiKeysWrite,
                P::OrdersRead,
                P::OrdersWrite,
                P::ShipmentsRead,
                P::ShipmentsWrite,
                P::ShopsRead,
                P::ShopsWrite,
            ],
            Role::Manager => &[
                P::AgentsRead,
                P::StockRead,
                P::EventsRead,
                P::DashboardRead,
                P::OrdersRead,
                P::ShipmentsRead,
                P::ShopsRead,
            ],
            Role::Warehouse => &[
                P::StockRead,
                P::EventsRead,
                P::DashboardRead,
                P::ShipmentsRead,
                P::ShipmentsWrite,
            ],
            Role::Finance => &[P::StockRead, P::EventsRead, P::DashboardRead, P::OrdersRead],
        }
    }
}

/// Whether `granter` may give a user `roles` bound to `warehouses`: when making a user, and
/// for the user both as it is and as it would be when changing one (so nobody changes or
/// disables a user they could not have made). The granter must hold every permission of every
/// role (the rule [`may_grant_scope`] follows for keys), only an owner grants `owner`, and a
/// warehouse-bound granter ([`Principal::stock_scope`]) grants only the warehouse role within
/// its own warehouses.
pub fn may_grant(granter: &Principal, roles: &[Role], warehouses: &[WarehouseCode]) -> bool {
    let holds_all = roles
        .iter()
        .flat_map(|r| r.permissions())
        .all(|p| granter.allows(*p));
    let owner_ok = !roles.contains(&Role::Owner) || granter.is_owner();
    holds_all && owner_ok && within_bound(granter.stock_scope(), roles, warehouses)
}

/// Whether a user of `roles` and `warehouses` sees no stock beyond `granter_scope` (`None` =
/// the granter sees every warehouse).
fn within_bound(
    granter_scope: Option<&[WarehouseCode]>,
    roles: &[Role],
    warehouses: &[WarehouseCode],
) -> bool {
    granter_scope.is_none_or(|mine| {
        roles.iter().all(|r| *r == Role::Warehouse) && warehouses.iter().all(|w| mine.contains(w))
    })
}

/// Whether `granter` may give an API key `scope`: it holds every permission of the scope, only
/// an owner grants `owner`, and a warehouse-bound granter grants nothing (keys are never bound
/// to warehouses, so any key would see more than its maker).
pub fn may_grant_scope(granter: &Principal, scope: Scope) -> bool {
    scope.permissions().iter().all(|p| granter.allows(*p))
        && (scope != Scope::Owner || granter.is_owner())
        && granter.stock_scope().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use xt_shared::ids::TenantId;

    #[test]
    fn scope_strings_round_trip_through_serde_and_from_str() {
        for &scope in Scope::ALL {
            let json = serde_json::to_string(&scope).unwrap();
            assert_eq!(json, format!("\"{}\"", scope.as_str()));
            assert_eq!(serde_json::from_str::<Scope>(&json).unwrap(), scope);
            assert_eq!(scope.as_str().parse::<Scope>().unwrap(), scope);
        }
        let err = "stock:write".parse::<Scope>().unwrap_err();
        assert!(err.contains("stock:write"), "{err}");
    }

    #[test]
    fn no_role_or_scope_rotates_keys_or_reads_metrics() {
        let hub_wide = |perms: &[Permission]| {
            perms.contains(&Permission::KeysRotate) || perms.contains(&Permission::MetricsRead)
        };
        for &scope in Scope::ALL {
            assert!(!hub_wide(scope.permissions()), "{scope}");
        }
        for role in [
            Role::Owner,
            Role::Admin,
            Role::Manager,
            Role::Warehouse,
            Role::Finance,
        ] {
            assert!(!hub_wide(role.permissions()), "{role}");
        }
        assert_eq!(Role::Owner.permissions().len(), Permission::ALL.len() - 2);
    }

    fn acme() -> TenantId {
        TenantId::new("acme").unwrap()
    }

    fn user(roles: &[Role], warehouses: &[&str]) -> Principal {
        Principal {
            tenant: acme(),
            subject: "u-1".into(),
            kind: crate::PrincipalKind::User,
            username: Some("someone".into()),
            roles: roles.to_vec(),
            warehouses: warehouses
                .iter()
                .map(|w| WarehouseCode::new(*w).unwrap())
                .collect(),
            scopes: Vec::new(),
        }
    }

    fn codes(warehouses: &[&str]) -> Vec<WarehouseCode> {
        warehouses
            .iter()
            .map(|w| WarehouseCode::new(*w).unwrap())
            .collect()
    }

    #[test]
    fn granting_needs_every_permission_of_the_roles() {
        let users_write = Principal::api_key(acme(), "key-1".into(), vec![Scope::UsersWrite]);
        for role in [
            Role::Owner,
            Role::Admin,
            Role::Manager,
            Role::Warehouse,
            Role::Finance,
        ] {
            assert!(!may_grant(&users_write, &[role], &[]), "{role}");
        }
        let owner_key = Principal::api_key(acme(), "key-2".into(), vec![Scope::Owner]);
        assert!(may_grant(&owner_key, &[Role::Owner], &[]));
        let admin = user(&[Role::Admin], &[]);
        assert!(may_grant(&admin, &[Role::Admin, Role::Finance], &[]));
        assert!(may_grant(&admin, &[Role::Warehouse], &codes(&["WH1"])));
        // Owner and admin hold the same permissions; only an owner makes owners.
        assert!(!may_grant(&admin, &[Role::Owner], &[]));
        // (Whether the caller may manage users at all is `users:write`, checked by the routes.)
        assert!(!may_grant(
            &user(&[Role::Manager], &[]),
            &[Role::Admin],
            &[]
        ));
    }

    #[test]
    fn a_warehouse_bound_granter_grants_only_its_own_warehouses() {
        let bound = user(&[Role::Warehouse], &["WH1", "WH2"]);
        let mine = bound.stock_scope();
        assert!(mine.is_some());
        assert!(within_bound(mine, &[Role::Warehouse], &codes(&["WH1"])));
        assert!(!within_bound(
            mine,
            &[Role::Warehouse],
            &codes(&["WH1", "WH3"])
        ));
        assert!(!within_bound(mine, &[Role::Finance], &[]));
        assert!(!within_bound(
            mine,
            &[Role::Warehouse, Role::Manager],
            &codes(&["WH1"])
        ));
        assert!(within_bound(None, &[Role::Finance], &[]));
        assert!(may_grant(&bound, &[Role::Warehouse], &codes(&["WH1"])));
        assert!(!may_grant(&bound, &[Role::Warehouse], &codes(&["WH3"])));
        for &scope in Scope::ALL {
            assert!(!may_grant_scope(&bound, scope), "{scope}");
        }
    }

    #[test]
    fn every_non_owner_scope_grants_a_permission_of_its_own_name() {
        for &scope in &Scope::ALL[1..] {
            let perms = scope.permissions();
            assert_eq!(perms.len(), 1);
            let name = serde_json::to_string(&perms[0]).unwrap();
            assert_eq!(name, format!("\"{}\"", scope.as_str()));
        }
    }
}
