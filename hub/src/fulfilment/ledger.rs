//! The stock ledger per warehouse × SKU (placeholder; being written).
