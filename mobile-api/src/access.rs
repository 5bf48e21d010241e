//! The permission model: what a user's roles and an API key's scopes allow.
//!
//! Handlers ask [`Principal::allows`](crate::Principal::allows) for one [`Permission`]; the two
//! tables below ([`Role::permissions`] and [`Scope::permissions`]) are the only place that says
//! who may do what.

use crate::api::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
    /// Rotate the hub's token signing keys (hub-wide: owners only).
    #[serde(rename = "keys:rotate")]
    KeysRotate,
    /// Read the hub's metrics (hub-wide: owners only).
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
    /// Bind shops and change them, credentials included.
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
/// `agents:read`, `stock:read` … . Keys are stored with these: variants are only ever appended.
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
    /// exactly its one permission (so only `owner` ever grants `keys:rotate` or `metrics:read`).
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
    /// | owner     | everything                                                         |
    /// | admin     | everything but `keys:rotate` and `metrics:read`                    |
    /// | manager   | agents:read, stock:read, events:read, dashboard:read, orders:read, shipments:read, shops:read |
    /// | warehouse | stock:read, events:read, dashboard:read, shipments:read, shipments:write (stock of its warehouses only) |
    /// | finance   | stock:read, events:read, dashboard:read, orders:read               |
    pub fn permissions(self) -> &'static [Permission] {
        use Permission as P;
        match self {
            Role::Owner => Permission::ALL,
            Role::Admin => &[
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn only_owners_rotate_keys_or_read_metrics() {
        for &scope in Scope::ALL {
            let hub_wide = scope.permissions().contains(&Permission::KeysRotate)
                || scope.permissions().contains(&Permission::MetricsRead);
            assert_eq!(hub_wide, scope == Scope::Owner, "{scope}");
        }
        for role in [Role::Admin, Role::Manager, Role::Warehouse, Role::Finance] {
            assert!(!role.permissions().contains(&Permission::KeysRotate));
            assert!(!role.permissions().contains(&Permission::MetricsRead));
        }
        let admin = Role::Admin.permissions();
        assert_eq!(admin.len(), Permission::ALL.len() - 2);
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
