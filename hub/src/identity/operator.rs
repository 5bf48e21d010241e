//! The hub operator's key: a hub-level credential, no tenant's, that alone rotates the token
//! signing keys and reads the hub-wide metrics. Stored as the SHA-256 of its secret; there is
//! at most one (making a new one drops the previous one in the same transaction).

use crate::store::codec::{decode, encode};
use crate::store::{Store, StoreError, secret_hash};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use xt_shared::model::UtcMillis;

/// Key: SHA-256 of the secret.
pub(crate) const OPERATOR_KEYS: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("operator_keys");

/// The operator key as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorKeyRecord {
    /// Its public id, `op-` and 12 hex digits, for logs.
    pub id: String,
    pub created_at: UtcMillis,
}

pub(crate) fn create_tables(tx: &crate::store::table::WriteTx) -> Result<(), StoreError> {
    let txn = tx.backend();
    txn.open_table(OPERATOR_KEYS)?;
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
        let txn = self.db.begin_write()?;
        let dropped = {
            let mut table = txn.open_table(OPERATOR_KEYS)?;
            let dropped = table.len()? as usize;
            table.retain(|_, _| false)?;
            table.insert(secret_hash(secret).as_slice(), encode(record).as_slice())?;
            dropped
        };
        txn.commit()?;
        Ok(dropped)
    }

    /// Drops the operator key: until a new one is made, nobody rotates keys over HTTP and only
    /// direct loopback scrapes read the metrics. Returns how many keys were dropped.
    pub fn revoke_operator_keys(&self) -> Result<usize, StoreError> {
        let txn = self.db.begin_write()?;
        let dropped = {
            let mut table = txn.open_table(OPERATOR_KEYS)?;
            let dropped = table.len()? as usize;
            table.retain(|_, _| false)?;
            dropped
        };
        txn.commit()?;
        Ok(dropped)
    }

    /// The operator key whose secret is `secret`, if it is the current one.
    pub fn operator_key(&self, secret: &str) -> Result<Option<OperatorKeyRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(OPERATOR_KEYS)?;
        let found = table.get(secret_hash(secret).as_slice())?;
        found.map(|v| decode(v.value())).transpose()
    }

    /// The current operator key, if there is one.
    pub fn current_operator_key(&self) -> Result<Option<OperatorKeyRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(OPERATOR_KEYS)?;
        let first = table.iter()?.next().transpose()?;
        first.map(|(_, v)| decode(v.value())).transpose()
    }
}
