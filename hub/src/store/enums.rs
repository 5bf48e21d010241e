//! The stored forms of the model's and the wire's enums that records hold: [`StoredPlatform`],
//! [`StoredAgentRole`], [`StoredRole`] and [`StoredScope`], and the `#[serde(with = …)]`
//! modules through which a record field of the model type is stored as its mirror.
//!
//! Why: postcard stores an enum variant by its index, so the order of the variants is the stored
//! layout. `xt_shared` and `xt_mobile_api` change when the model or the wire needs it (a variant
//! inserted in the middle, a reordering); stored bytes may not: what a released hub wrote must
//! read to the same meaning, and stored bytes change only through a new record version
//! (`store::codec`). Each mirror has the model's variants in the order they had when records
//! first stored them, and the conversions match on every variant, so a model change shows up
//! here as a compile error, not as other bytes.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use xt_mobile_api::{Role, Scope};
use xt_shared::order::Platform;
use xt_shared::protocol::AgentRole;

#[cfg(test)]
mod tests;

/// A stored enum mirroring a model enum variant for variant, in the same order (postcard stores
/// the variant's index), with conversions both ways.
macro_rules! mirror_enum {
    ($(#[$doc:meta])* $stored:ident <=> $model:ident { $($v:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $stored {
            $($v),*
        }

        #[cfg(test)]
        impl $stored {
            /// Every variant, in the stored order.
            pub(crate) const ALL: &'static [$stored] = &[$($stored::$v),*];
        }

        impl From<$model> for $stored {
            fn from(m: $model) -> $stored {
                match m {
                    $($model::$v => $stored::$v),*
                }
            }
        }

        impl From<$stored> for $model {
            fn from(s: $stored) -> $model {
                match s {
                    $($stored::$v => $model::$v),*
                }
            }
        }
    };
}
pub(crate) use mirror_enum;

mirror_enum!(
    /// [`Platform`] as stored.
    StoredPlatform <=> Platform { Taobao, Tmall, Jd, Shopify, Woocommerce }
);
mirror_enum!(
    /// [`AgentRole`] as stored.
    StoredAgentRole <=> AgentRole { Warehouse, Finance, Pos }
);
mirror_enum!(
    /// [`Role`] as stored.
    StoredRole <=> Role { Owner, Admin, Manager, Warehouse, Finance }
);
mirror_enum!(
    /// [`Scope`] as stored.
    StoredScope <=> Scope {
        Owner,
        AgentsRead,
        AgentsWrite,
        StockRead,
        EventsRead,
        DashboardRead,
        UsersRead,
        UsersWrite,
        ApiKeysWrite,
        OrdersRead,
        OrdersWrite,
        ShipmentsRead,
        ShipmentsWrite,
        ShopsRead,
        ShopsWrite,
    }
);

fn serialize_one<M: Copy, S: From<M> + Serialize, Z: Serializer>(
    m: &M,
    z: Z,
) -> Result<Z::Ok, Z::Error> {
    S::from(*m).serialize(z)
}

fn deserialize_one<'de, M: From<S>, S: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<M, D::Error> {
    S::deserialize(d).map(M::from)
}

fn serialize_each<M: Copy, S: From<M> + Serialize, Z: Serializer>(
    ms: &[M],
    z: Z,
) -> Result<Z::Ok, Z::Error> {
    z.collect_seq(ms.iter().map(|m| S::from(*m)))
}

fn deserialize_each<'de, M: From<S>, S: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<M>, D::Error> {
    Ok(Vec::<S>::deserialize(d)?.into_iter().map(M::from).collect())
}

/// A `#[serde(with = …)]` module storing a field of type `$model` (or `Vec<$model>`, each
/// element) as `$stored`.
macro_rules! stored_as {
    ($(#[$doc:meta])* $name:ident: Vec<$model:ty> => $stored:ty) => {
        $(#[$doc])*
        pub mod $name {
            use super::*;

            pub fn serialize<Z: Serializer>(ms: &[$model], z: Z) -> Result<Z::Ok, Z::Error> {
                serialize_each::<_, $stored, _>(ms, z)
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(
                d: D,
            ) -> Result<Vec<$model>, D::Error> {
                deserialize_each::<_, $stored, _>(d)
            }
        }
    };
    ($(#[$doc:meta])* $name:ident: $model:ty => $stored:ty) => {
        $(#[$doc])*
        pub mod $name {
            use super::*;

            pub fn serialize<Z: Serializer>(m: &$model, z: Z) -> Result<Z::Ok, Z::Error> {
                serialize_one::<_, $stored, _>(m, z)
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$model, D::Error> {
                deserialize_one::<_, $stored, _>(d)
            }
        }
    };
}

stored_as!(
    /// A [`Platform`] field stored as [`StoredPlatform`].
    platform: Platform => StoredPlatform
);
stored_as!(
    /// An [`AgentRole`] field stored as [`StoredAgentRole`].
    agent_role: AgentRole => StoredAgentRole
);
stored_as!(
    /// A `Vec<`[`Role`]`>` field stored as [`StoredRole`]s.
    roles: Vec<Role> => StoredRole
);
stored_as!(
    /// A `Vec<`[`Scope`]`>` field stored as [`StoredScope`]s.
    scopes: Vec<Scope> => StoredScope
);
