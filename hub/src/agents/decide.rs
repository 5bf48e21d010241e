//! The agents room's decisions, pure: state, input and time in, a decision out.

use super::store::{TokenRecord, TokenRefusal};
use xt_shared::change::Body;
use xt_shared::model::UtcMillis;
use xt_shared::protocol::AgentRole;

/// Why `token` cannot be redeemed at `now`, if it cannot.
pub fn token_refusal(token: &TokenRecord, now: UtcMillis) -> Option<TokenRefusal> {
    if token.used_by.is_some() {
        Some(TokenRefusal::Used)
    } else if token.expires_at <= now {
        Some(TokenRefusal::Expired)
    } else {
        None
    }
}

/// Why an agent of `role` may not write `body`, if it may not: a warehouse writes stock, stock
/// movements and shipments; finance writes payment flows; a POS writes sales and stock.
pub fn refusal(role: AgentRole, body: &Body) -> Option<String> {
    let allowed = match role {
        AgentRole::Warehouse => {
            matches!(
                body,
                Body::Stock(_) | Body::StockMovement(_) | Body::Shipment(_)
            )
        }
        AgentRole::Finance => matches!(body, Body::PaymentFlow(_)),
        AgentRole::Pos => matches!(
            body,
            Body::PosSale(_) | Body::Stock(_) | Body::StockMovement(_)
        ),
    };
    (!allowed).then(|| {
        format!(
            "a {} agent may not write {} records",
            role.as_str(),
            body.entity().kind().as_str()
        )
    })
}

#[cfg(test)]
mod tests;
