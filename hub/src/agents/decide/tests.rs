//! The agents room's decisions as tables of named cases.

use super::*;
use xt_shared::ids::{AgentId, DocNo, SiteId, Sku, TenantId, WarehouseCode};
use xt_shared::model::{MovementKind, StockLevel, StockMovement};

fn token(used: bool, expires_at: i64) -> TokenRecord {
    TokenRecord {
        tenant: TenantId::new("acme").unwrap(),
        site: SiteId::new("sh").unwrap(),
        role: AgentRole::Warehouse,
        created_at: UtcMillis(0),
        expires_at: UtcMillis(expires_at),
        used_by: used.then(|| AgentId::new("ag-1").unwrap()),
    }
}

#[test]
fn token_refusal_cases() {
    let cases: &[(&str, TokenRecord, i64, Option<TokenRefusal>)] = &[
        (
            "unused and before expiry: redeemable",
            token(false, 100),
            99,
            None,
        ),
        (
            "expiry is exclusive: at it, expired",
            token(false, 100),
            100,
            Some(TokenRefusal::Expired),
        ),
        (
            "after expiry: expired",
            token(false, 100),
            500,
            Some(TokenRefusal::Expired),
        ),
        (
            "used: used, even before expiry",
            token(true, 100),
            1,
            Some(TokenRefusal::Used),
        ),
        (
            "used and expired: used is said first",
            token(true, 100),
            500,
            Some(TokenRefusal::Used),
        ),
    ];
    for (name, token, now, want) in cases {
        assert_eq!(token_refusal(token, UtcMillis(*now)), *want, "{name}");
    }
}

fn stock() -> Body {
    Body::Stock(StockLevel {
        warehouse: WarehouseCode::new("WH").unwrap(),
        sku: Sku::new("S").unwrap(),
        on_hand: 1,
    })
}

fn movement() -> Body {
    Body::StockMovement(StockMovement {
        movement_no: DocNo::new("M1").unwrap(),
        warehouse: WarehouseCode::new("WH").unwrap(),
        sku: Sku::new("S").unwrap(),
        delta: -1,
        kind: MovementKind::Shipment,
        occurred_at: UtcMillis(0),
    })
}

#[test]
fn which_role_may_write_what() {
    let cases: &[(&str, AgentRole, Body, Option<&str>)] = &[
        (
            "a warehouse writes stock",
            AgentRole::Warehouse,
            stock(),
            None,
        ),
        (
            "a warehouse writes movements",
            AgentRole::Warehouse,
            movement(),
            None,
        ),
        ("a POS writes stock", AgentRole::Pos, stock(), None),
        ("a POS writes movements", AgentRole::Pos, movement(), None),
        (
            "finance may not write stock",
            AgentRole::Finance,
            stock(),
            Some("a finance agent may not write stock records"),
        ),
        (
            "finance may not write movements",
            AgentRole::Finance,
            movement(),
            Some("a finance agent may not write stock_movement records"),
        ),
    ];
    for (name, role, body, want) in cases {
        assert_eq!(refusal(*role, body).as_deref(), *want, "{name}");
    }
}
