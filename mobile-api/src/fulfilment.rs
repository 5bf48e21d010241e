//! Fulfilment (履约): the HTTP surface of the hub's fulfilment room.
//!
//! - `GET /api/v1/fulfilment/board`: counts per state, exceptions first (`orders:read`)
//! - `GET /api/v1/fulfilment/orders?state=&warehouse=&cursor=&limit=`: orders in fulfilment,
//!   `state=held` being the review queue; `GET /api/v1/fulfilment/orders/{id}`: one order's
//!   holds, timeline, dispatch explanation and deliveries (`orders:read`)
//! - `POST /api/v1/fulfilment/orders/{id}/actions`: approve, hold, release, cancel, reroute,
//!   split (`orders:write`)
//! - `GET|PUT /api/v1/fulfilment/settings`: review, merge and split rules (`orders:read` /
//!   `orders:write`)
//! - `GET|POST /api/v1/warehouses`, `PUT /api/v1/warehouses/{code}`: warehouses with their
//!   kind, coverage, priority and cost (`shipments:read` / `shops:write`)
//! - `GET /api/v1/deliveries`, `GET /api/v1/deliveries/{delivery_no}`,
//!   `POST …/{delivery_no}/confirm`, `POST …/{delivery_no}/exception`: delivery orders as
//!   warehouse staff see and confirm them (`shipments:read` / `shipments:write`; staff bound
//!   to warehouses see only theirs, another warehouse's is 404)
//! - `POST /api/v1/callbacks/qimen/{tenant}/{warehouse}`: a 3PL's callback, no bearer
//!   credential (the hub checks the Qimen signature with the warehouse's secret), body at most
//!   [`QIMEN_BODY_BYTES_MAX`]
//!
//! An order's id is `{shop_id}:{platform order no}`, as in [`crate::orders`]. Every input is
//! checked here into the types of [`input`]; the hub ([`FulfilmentApi`](crate::FulfilmentApi))
//! decides the rest.

mod config;
mod input;
mod routes;
mod views;

pub use config::*;
pub use input::*;
pub(crate) use routes::routes;
pub use views::*;

#[cfg(test)]
mod tests;
