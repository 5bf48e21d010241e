//! The hub operator's key: a hub-level credential, no tenant's, that alone rotates the token
//! signing keys and reads the hub-wide metrics. Stored as the SHA-256 of its secret; there is
//! at most one (making a new one drops the previous one in the same transaction).

use crate::store::table::{Table, WriteTx};
use crate::store::{Store, StoreError, secret_hash};
use serde::{Deserialize, Serialize};
use xt_shared::model::UtcMillis;

/// Key: SHA-256 of the secret.
pub(crate) const OPERATOR_KEYS: Table<&[u8], OperatorKeyRecord> = Table::new("operator_keys");

/// The operator key as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorKeyRecord {
    /// Its public id, `op-` and 12 hex digits, for logs.
    pub id: String,
    pub created_at: UtcMillis,
}

pub(crate) fn create_tables(tx: &WriteTx) -> Result<(), StoreError> {
    tx.open(OPERATOR_KEYS)?;
    Ok(())
}

impl Store {
    /// Makes `secret` the operator key, dropping any previous one (which stops working at once).
    /// Returns how many keys were dropped.
    pub fn replace_operator_key(
        &self,
        secret: &str,
        record: &OperatorKeyRecord,
    ) -> Result<usize, StoreError> {
        let tx = self.write()?;
        let dropped = {
            let mut table = tx.open(OPERATOR_KEYS)?;
            let dropped = table.len()? as usize;
            table.clear()?;
            table.insert(secret_hash(secret).as_slice(), record)?;
            dropped
        };
        tx.commit()?;
        Ok(dropped)
    }

    /// Drops the operator key: until a new one is made, nobody rotates keys over HTTP and only
    /// direct loopback scrapes read the metrics. Returns how many keys were dropped.
    pub fn revoke_operator_keys(&self) -> Result<usize, StoreError> {
        let tx = self.write()?;
        let dropped = {
            let mut table = tx.open(OPERATOR_KEYS)?;
            let dropped = table.len()? as usize;
            table.clear()?;
            dropped
        };
        tx.commit()?;
        Ok(dropped)
    }

    /// The operator key whose secret is `secret`, if it is the current one.
    pub fn operator_key(&self, secret: &str) -> Result<Option<OperatorKeyRecord>, StoreError> {
        self.read()?
            .open(OPERATOR_KEYS)?
            .get(secret_hash(secret).as_slice())
    }

    /// The current operator key, if there is one.
    pub fn current_operator_key(&self) -> Result<Option<OperatorKeyRecord>, StoreError> {
        let tx = self.read()?;
        let table = tx.open(OPERATOR_KEYS)?;
        let first = table.all()?.next().transpose()?;
        Ok(first.map(|row| row.value))
    }
}
