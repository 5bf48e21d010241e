//! Every mirror has today's model layout (the same postcard bytes, variant by variant, the
//! variant's index) and converts back to the same value; the `with` modules store a field as
//! the model type would.

use super::*;
use crate::orders::records::{StoredOrderState, StoredRefundState};
use crate::store::changes::{StoredFlowDirection, StoredMovementKind, StoredOrderStatus};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use xt_shared::model::{FlowDirection, MovementKind, OrderStatus};
use xt_shared::order::{OrderState, RefundState};

fn bytes<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).unwrap()
}

/// For every variant of `S`: its bytes are its index, the model value has the same bytes, and
/// stored → model → stored and model → stored → model are the identity.
fn same_layout<M, S>(all: &[S])
where
    M: Copy + Debug + PartialEq + Serialize + DeserializeOwned + From<S>,
    S: Copy + Debug + PartialEq + Serialize + DeserializeOwned + From<M>,
{
    for (index, &stored) in all.iter().enumerate() {
        let model = M::from(stored);
        assert_eq!(bytes(&stored), [u8::try_from(index).unwrap()], "{stored:?}");
        assert_eq!(bytes(&model), bytes(&stored), "{model:?}");
        assert_eq!(S::from(model), stored);
        assert_eq!(M::from(S::from(model)), model);
        assert_eq!(postcard::from_bytes::<M>(&bytes(&stored)).unwrap(), model);
        assert_eq!(postcard::from_bytes::<S>(&bytes(&model)).unwrap(), stored);
    }
}

#[test]
fn every_mirror_has_the_models_layout_today() {
    same_layout::<Platform, StoredPlatform>(StoredPlatform::ALL);
    same_layout::<AgentRole, StoredAgentRole>(StoredAgentRole::ALL);
    same_layout::<Role, StoredRole>(StoredRole::ALL);
    same_layout::<Scope, StoredScope>(StoredScope::ALL);
    same_layout::<OrderState, StoredOrderState>(StoredOrderState::ALL);
    same_layout::<RefundState, StoredRefundState>(StoredRefundState::ALL);
    same_layout::<MovementKind, StoredMovementKind>(StoredMovementKind::ALL);
    same_layout::<FlowDirection, StoredFlowDirection>(StoredFlowDirection::ALL);
    same_layout::<OrderStatus, StoredOrderStatus>(StoredOrderStatus::ALL);
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct AsModel {
    platform: Platform,
    role: AgentRole,
    roles: Vec<Role>,
    scopes: Vec<Scope>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct AsStored {
    #[serde(with = "platform")]
    platform: Platform,
    #[serde(with = "agent_role")]
    role: AgentRole,
    #[serde(with = "roles")]
    roles: Vec<Role>,
    #[serde(with = "scopes")]
    scopes: Vec<Scope>,
}

#[test]
fn with_modules_store_fields_as_the_model_type_would() {
    let roles = StoredRole::ALL.iter().map(|&r| Role::from(r));
    let cases = [
        (Platform::Taobao, AgentRole::Warehouse, vec![], vec![]),
        (
            Platform::Woocommerce,
            AgentRole::Pos,
            roles.clone().rev().collect(),
            Scope::ALL.to_vec(),
        ),
        (
            Platform::Jd,
            AgentRole::Finance,
            roles.collect(),
            vec![Scope::ShopsWrite, Scope::Owner, Scope::ShopsWrite],
        ),
    ];
    for (platform, role, roles, scopes) in cases {
        let model = AsModel {
            platform,
            role,
            roles: roles.clone(),
            scopes: scopes.clone(),
        };
        let stored = AsStored {
            platform,
            role,
            roles,
            scopes,
        };
        let written = bytes(&stored);
        assert_eq!(written, bytes(&model), "{model:?}");
        assert_eq!(postcard::from_bytes::<AsStored>(&written).unwrap(), stored);
    }
}
