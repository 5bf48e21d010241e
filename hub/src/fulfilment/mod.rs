//! Fulfilment: from a captured, paid order to a parcel with a tracking number the platform
//! knows. Review, merge and split, dispatch to a warehouse with its stock reserved, delivery
//! orders to every kind of warehouse (an agent's WMS, a 3PL over Qimen, a phone), shipment
//! confirmations, tracking written back, cancellation intercepts.
//!
//! *Owns:* (filled in as the room's tables land).
//! *Invariant:* (filled in as the room's tables land).
//! *Boundary:* (filled in as the room's tables land).

pub mod api;
pub mod decide;
pub mod ledger;
pub mod machine;
