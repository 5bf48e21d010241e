//! The fulfilment state machine of one order: which state an event moves it to, or why the
//! event does not apply in that state. Pure: the room keeps every transition in the order's
//! timeline with its time, actor and reason.
//!
//! ```text
//! paid → review ─approve→ allocated ─send→ sent ─ship part→ partly shipped ─ship rest→ shipped → completed
//!          │  ╰hold→ held ─release→ review          │                 ╰──────────ship all──────╯
//!          ╰─ exception (unmapped SKU, address incomplete, out of stock) ─retry→ review
//! any unshipped ─cancel→ cancelled;  shipped ─cancel→ exception (intercept failed)
//! sent ─refused→ exception (warehouse refused) ─reroute→ allocated
//!                                              ╰─no warehouse has it→ exception (out of stock)
//! ```

use serde::{Deserialize, Serialize};

/// Where an order stands in fulfilment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Paid and captured; not reviewed yet.
    Paid,
    /// Being reviewed (by the rules, or waiting for the merge buffer).
    Review,
    /// Held by a review rule or a person; a person releases it.
    Held,
    /// A warehouse is chosen and the stock reserved; not yet sent.
    Allocated,
    /// The delivery order reached the warehouse.
    Sent,
    /// Some of the lines have shipped.
    PartlyShipped,
    /// Every line has shipped.
    Shipped,
    /// The platform says the buyer received it (or the order closed after shipping).
    Completed,
    /// Cancelled before shipping; its stock is released.
    Cancelled,
    /// Needs someone: see [`Exception`].
    Exception(Exception),
}

/// Why an order needs someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exception {
    /// A line's SKU is not mapped to a merchant SKU.
    UnmappedSku,
    /// No warehouse covering the receiver holds the stock; dispatched again when stock arrives.
    OutOfStock,
    /// The receiver's address lacks what a parcel needs.
    AddressIncomplete,
    /// Cancelled on the platform after the warehouse shipped it.
    InterceptFailed,
    /// The warehouse refused the delivery order.
    WarehouseRefused,
}

impl State {
    /// The name used in the API, the console and the board.
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Paid => "paid",
            State::Review => "review",
            State::Held => "held",
            State::Allocated => "allocated",
            State::Sent => "sent",
            State::PartlyShipped => "partly_shipped",
            State::Shipped => "shipped",
            State::Completed => "completed",
            State::Cancelled => "cancelled",
            State::Exception(e) => e.as_str(),
        }
    }

    /// Every state, exceptions first (the board's order).
    pub const ALL: [State; 14] = [
        State::Exception(Exception::InterceptFailed),
        State::Exception(Exception::WarehouseRefused),
        State::Exception(Exception::OutOfStock),
        State::Exception(Exception::UnmappedSku),
        State::Exception(Exception::AddressIncomplete),
        State::Held,
        State::Paid,
        State::Review,
        State::Allocated,
        State::Sent,
        State::PartlyShipped,
        State::Shipped,
        State::Completed,
        State::Cancelled,
    ];

    /// Parses [`State::as_str`].
    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// Whether the order's stock is still held for it (reserved, not shipped, not cancelled).
    pub fn holds_stock(&self) -> bool {
        matches!(
            self,
            State::Review | State::Held | State::Allocated | State::Sent | State::PartlyShipped
        ) || matches!(
            self,
            State::Exception(Exception::WarehouseRefused | Exception::AddressIncomplete)
        )
    }

    /// Whether nothing more happens to the order.
    pub fn is_final(&self) -> bool {
        matches!(self, State::Completed | State::Cancelled)
    }

    /// Whether the warehouse may already have shipped something.
    pub fn at_warehouse(&self) -> bool {
        matches!(self, State::Sent | State::PartlyShipped)
    }
}

impl Exception {
    pub fn as_str(&self) -> &'static str {
        match self {
            Exception::UnmappedSku => "unmapped_sku",
            Exception::OutOfStock => "out_of_stock",
            Exception::AddressIncomplete => "address_incomplete",
            Exception::InterceptFailed => "intercept_failed",
            Exception::WarehouseRefused => "warehouse_refused",
        }
    }
}

/// What happened to the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Review started (the order was captured paid, or released, or retried).
    Review,
    /// The rules or a person approved it, and a warehouse holds its stock.
    Allocate,
    /// Held by a rule or a person.
    Hold,
    /// A review rule found something only a fix upstream clears.
    Fault(Exception),
    /// A person released a held order (back to review).
    Release,
    /// The delivery order reached the warehouse.
    Send,
    /// The warehouse refused it.
    Refuse,
    /// Moved to another warehouse (by hand, or on a stock-out report).
    Reroute,
    /// Some lines shipped, some not yet.
    ShipPart,
    /// Every line shipped.
    ShipAll,
    /// The platform says it is received or closed after shipping.
    Complete,
    /// The platform (or a person) cancelled it.
    Cancel,
}

/// Why an event does not apply in a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{event:?} does not apply to an order in state {}", from.as_str())]
pub struct NotAllowed {
    pub from: State,
    pub event: Event,
}

/// The state `event` moves an order in `from` to.
pub fn next(from: State, event: Event) -> Result<State, NotAllowed> {
    use Exception as X;
    use State as S;
    let to = match (from, event) {
        (
            S::Paid | S::Held | S::Exception(X::OutOfStock | X::UnmappedSku | X::AddressIncomplete),
            Event::Review,
        ) => S::Review,
        (S::Review, Event::Review) => S::Review,
        (S::Review | S::Exception(X::OutOfStock), Event::Allocate) => S::Allocated,
        (S::Review | S::Paid, Event::Hold) => S::Held,
        (
            S::Review | S::Paid,
            Event::Fault(x @ (X::UnmappedSku | X::AddressIncomplete | X::OutOfStock)),
        ) => S::Exception(x),
        (S::Allocated | S::Exception(X::WarehouseRefused), Event::Fault(X::OutOfStock)) => {
            S::Exception(X::OutOfStock)
        }
        (S::Held, Event::Release) => S::Review,
        (S::Held, Event::Hold) => S::Held,
        (S::Allocated, Event::Send) => S::Sent,
        (S::Allocated | S::Sent, Event::Refuse) => S::Exception(X::WarehouseRefused),
        (S::Allocated | S::Sent | S::Exception(X::WarehouseRefused), Event::Reroute) => {
            S::Allocated
        }
        (S::Sent | S::PartlyShipped, Event::ShipPart) => S::PartlyShipped,
        (S::Allocated | S::Sent | S::PartlyShipped, Event::ShipAll) => S::Shipped,
        // A shipment reported after a cancel the warehouse could not stop.
        (S::Cancelled, Event::ShipPart | Event::ShipAll) => S::Exception(X::InterceptFailed),
        (S::Shipped | S::Exception(X::InterceptFailed), Event::Complete) => S::Completed,
        (S::PartlyShipped | S::Shipped, Event::Cancel) => S::Exception(X::InterceptFailed),
        (S::Exception(X::InterceptFailed), Event::Cancel) => S::Exception(X::InterceptFailed),
        (S::Completed, Event::Cancel) => return Err(NotAllowed { from, event }),
        (S::Cancelled, Event::Cancel) => S::Cancelled,
        (_, Event::Cancel) => S::Cancelled,
        _ => return Err(NotAllowed { from, event }),
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Event as E;
    use Exception as X;
    use State as S;

    #[test]
    fn transitions() {
        let cases: &[(&str, State, Event, Result<State, ()>)] = &[
            (
                "captured paid order goes to review",
                S::Paid,
                E::Review,
                Ok(S::Review),
            ),
            (
                "approved and reserved",
                S::Review,
                E::Allocate,
                Ok(S::Allocated),
            ),
            ("held by a rule", S::Review, E::Hold, Ok(S::Held)),
            (
                "released goes back to review",
                S::Held,
                E::Release,
                Ok(S::Review),
            ),
            (
                "unmapped sku is an exception",
                S::Review,
                E::Fault(X::UnmappedSku),
                Ok(S::Exception(X::UnmappedSku)),
            ),
            (
                "out of stock retried",
                S::Exception(X::OutOfStock),
                E::Allocate,
                Ok(S::Allocated),
            ),
            ("sent", S::Allocated, E::Send, Ok(S::Sent)),
            (
                "partial shipment",
                S::Sent,
                E::ShipPart,
                Ok(S::PartlyShipped),
            ),
            ("rest shipped", S::PartlyShipped, E::ShipAll, Ok(S::Shipped)),
            ("completed", S::Shipped, E::Complete, Ok(S::Completed)),
            (
                "cancel before shipping",
                S::Sent,
                E::Cancel,
                Ok(S::Cancelled),
            ),
            (
                "cancel of a held order",
                S::Held,
                E::Cancel,
                Ok(S::Cancelled),
            ),
            (
                "cancel after shipping fails the intercept",
                S::Shipped,
                E::Cancel,
                Ok(S::Exception(X::InterceptFailed)),
            ),
            (
                "cancel after a part shipped fails the intercept",
                S::PartlyShipped,
                E::Cancel,
                Ok(S::Exception(X::InterceptFailed)),
            ),
            (
                "shipment after a cancel the warehouse missed",
                S::Cancelled,
                E::ShipAll,
                Ok(S::Exception(X::InterceptFailed)),
            ),
            (
                "warehouse refused",
                S::Sent,
                E::Refuse,
                Ok(S::Exception(X::WarehouseRefused)),
            ),
            (
                "rerouted after a refusal",
                S::Exception(X::WarehouseRefused),
                E::Reroute,
                Ok(S::Allocated),
            ),
            (
                "refused for want of stock and no other warehouse has it",
                S::Exception(X::WarehouseRefused),
                E::Fault(X::OutOfStock),
                Ok(S::Exception(X::OutOfStock)),
            ),
            (
                "release of an order not held",
                S::Review,
                E::Release,
                Err(()),
            ),
            (
                "ship before sending is allowed only whole (phone warehouse)",
                S::Allocated,
                E::ShipPart,
                Err(()),
            ),
            (
                "cancel of a completed order",
                S::Completed,
                E::Cancel,
                Err(()),
            ),
            ("send twice", S::Sent, E::Send, Err(())),
            ("complete before shipping", S::Sent, E::Complete, Err(())),
        ];
        for (name, from, event, want) in cases {
            let got = next(*from, *event).map_err(|_| ());
            assert_eq!(&got, want, "{name}");
        }
    }

    #[test]
    fn names_round_trip() {
        for state in State::ALL {
            assert_eq!(State::parse(state.as_str()), Some(state));
        }
    }
}
