//! Xietong's shared core: the standard model, the `Change` envelope, the wire protocol and the
//! sync state machine. This crate does no IO and never reads the clock: callers pass `now`. The
//! one exception is the `quic` feature: frames read and written on quinn streams.
//!
//! ```
//! use xt_shared::protocol::{decode_all, frame_bytes, Frame, PROTOCOL_VERSION};
//! let hello = Frame::Hello { protocol: PROTOCOL_VERSION, agent_version: "0.1.0".into(), sources: vec![] };
//! let bytes = frame_bytes(&hello).unwrap();
//! assert_eq!(decode_all(&bytes).unwrap(), vec![hello]);
//! ```

pub mod change;
pub mod command;
pub mod credentials;
pub mod errors;
pub mod ids;
pub mod model;
pub mod money;
pub mod order;
pub mod protocol;
#[cfg(feature = "quic")]
pub mod quic;
pub mod sync;
