//! The fulfilment service against a real hub.
