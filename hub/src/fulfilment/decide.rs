//! Fulfilment decisions: review, merge, split and routing (placeholder; being written).
