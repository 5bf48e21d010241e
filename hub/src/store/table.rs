//! The one narrow table interface every room stores through: typed tables with ordered tuple
//! keys, point and range reads, and write transactions that span rooms.
//!
//! A [`Table`] is a constant naming a table, its key type (a tuple of `&str`, `u64`, `i64` and
//! `&[u8]`, ordered field by field, tenant first) and its value type ([`Stored`]: a versioned
//! [`Record`] through the one codec, or a plain number, pair, text, bytes or nothing for
//! indexes).
//! A room opens its tables in a [`ReadTx`] or a [`WriteTx`] it is handed; one apply that touches
//! several rooms (an order that moves stock and the dashboard) is one [`WriteTx`], committed once.
//!
//! *Invariant:* records never reach a room as bytes: what is written is encoded at the record's
//! current version, what is read decodes from any version it ever had.
//! *Boundary:* this file is the whole of what rooms know about the backend. redb implements it
//! here; a PostgreSQL/Citus backend would implement the same types (ARCHITECTURE.md, "Storage").

use super::StoreError;
use super::codec::{Record, View, decode, encode, encode_view};
use redb::{Key, ReadableTable, TableDefinition, Value};
use std::borrow::Borrow;
use std::marker::PhantomData;
use std::ops::RangeBounds;

/// A value a table holds: a versioned record, or a plain value of an index.
pub trait Stored: Sized {
    /// How the backend holds it.
    type Raw: Value + 'static;
    /// Reads a held value.
    fn read(raw: <Self::Raw as Value>::SelfType<'_>) -> Result<Self, StoreError>;
    /// Hands the held form of `self` to `f`.
    fn write<T>(&self, f: impl FnOnce(<Self::Raw as Value>::SelfType<'_>) -> T) -> T;
}

impl<R: Record> Stored for R {
    type Raw = &'static [u8];
    fn read(raw: &[u8]) -> Result<R, StoreError> {
        decode(raw)
    }
    fn write<T>(&self, f: impl FnOnce(&[u8]) -> T) -> T {
        f(encode(self).as_slice())
    }
}

macro_rules! plain_values {
    ($($t:ty),*) => {$(
        impl Stored for $t {
            type Raw = $t;
            fn read(raw: $t) -> Result<$t, StoreError> {
                Ok(raw)
            }
            fn write<T>(&self, f: impl FnOnce($t) -> T) -> T {
                f(*self)
            }
        }
    )*};
}
plain_values!((), u64, i64, (u64, u64));

impl Stored for String {
    type Raw = &'static str;
    fn read(raw: &str) -> Result<String, StoreError> {
        Ok(raw.to_owned())
    }
    fn write<T>(&self, f: impl FnOnce(&str) -> T) -> T {
        f(self.as_str())
    }
}

/// Plain bytes, not a record: flags in `meta`, hash indexes, a room's pointer to a row of
/// another of its tables in its own encoding, and tests writing bytes as older hubs did.
impl Stored for Vec<u8> {
    type Raw = &'static [u8];
    fn read(raw: &[u8]) -> Result<Vec<u8>, StoreError> {
        Ok(raw.to_vec())
    }
    fn write<T>(&self, f: impl FnOnce(&[u8]) -> T) -> T {
        f(self.as_slice())
    }
}

/// A row that is one of two records sharing a table: `New` when its version byte is
/// `New::VERSION`, else `Old`. For an older layout that cannot become the newer one by itself
/// (it needs a secret the codec does not have, e.g. to seal it): it is read as it is, and each
/// is written at its own version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OldOrNew<Old, New> {
    Old(Old),
    New(New),
}

impl<Old: Record, New: Record> Stored for OldOrNew<Old, New> {
    type Raw = &'static [u8];
    fn read(raw: &[u8]) -> Result<Self, StoreError> {
        if raw.first() == Some(&New::VERSION) {
            decode(raw).map(OldOrNew::New)
        } else {
            decode(raw).map(OldOrNew::Old)
        }
    }
    fn write<T>(&self, f: impl FnOnce(&[u8]) -> T) -> T {
        match self {
            OldOrNew::Old(old) => f(encode(old).as_slice()),
            OldOrNew::New(new) => f(encode(new).as_slice()),
        }
    }
}

/// A table: its name, key and value types. Declared as a `const` by the room that owns it.
pub struct Table<K: Key + 'static, V: Stored> {
    name: &'static str,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: Key + 'static, V: Stored> Table<K, V> {
    pub const fn new(name: &'static str) -> Self {
        Table {
            name,
            _types: PhantomData,
        }
    }

    pub const fn name(&self) -> &'static str {
        self.name
    }

    fn definition(&self) -> TableDefinition<'static, K, V::Raw> {
        TableDefinition::new(self.name)
    }
}

impl<K: Key + 'static, V: Stored> Clone for Table<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K: Key + 'static, V: Stored> Copy for Table<K, V> {}

/// A read transaction: a consistent snapshot across every table.
pub struct ReadTx(pub(super) redb::ReadTransaction);

impl ReadTx {
    /// Opens `table` for reading. A table no write ever created reads as empty.
    pub fn open<K: Key + 'static, V: Stored>(
        &self,
        table: Table<K, V>,
    ) -> Result<ReadRows<K, V>, StoreError> {
        match self.0.open_table(table.definition()) {
            Ok(t) => Ok(Rows::new(Some(t))),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(Rows::new(None)),
            Err(e) => Err(e.into()),
        }
    }
}

impl ReadTx {
    /// The names of the tables that exist (migrations check what they retired).
    pub fn table_names(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .0
            .list_tables()?
            .map(|t| redb::TableHandle::name(&t).to_owned())
            .collect())
    }
}

/// A write transaction: what it writes, in every table, commits together or not at all.
pub struct WriteTx(pub(super) redb::WriteTransaction);

impl WriteTx {
    /// Opens `table` for reading and writing (creating it when new).
    pub fn open<K: Key + 'static, V: Stored>(
        &self,
        table: Table<K, V>,
    ) -> Result<WriteRows<'_, K, V>, StoreError> {
        Ok(Rows::new(Some(self.0.open_table(table.definition())?)))
    }

    /// Drops the table named `name` (and everything in it), if there is one: for layout
    /// migrations, which retire tables of older layouts.
    pub fn drop_table(&self, name: &str) -> Result<bool, StoreError> {
        let handle: TableDefinition<'_, (), ()> = TableDefinition::new(name);
        match self.0.delete_table(handle) {
            Ok(existed) => Ok(existed),
            Err(e) => Err(StoreError::Db(e.to_string())),
        }
    }

    /// Makes everything written durable.
    pub fn commit(self) -> Result<(), StoreError> {
        Ok(self.0.commit()?)
    }

    /// The backend's own transaction: for layout migrations (`Store::migrate`), which read and
    /// drop tables of older layouts this interface no longer names.
    pub(crate) fn backend(&self) -> &redb::WriteTransaction {
        &self.0
    }
}

/// An open table. `T` is the backend's table (read-only or writable), `K` and `V` its types.
pub struct Rows<T, K: Key + 'static, V: Stored> {
    inner: Option<T>,
    _types: PhantomData<fn() -> (K, V)>,
}

/// A table open for reading.
pub type ReadRows<K, V> = Rows<redb::ReadOnlyTable<K, <V as Stored>::Raw>, K, V>;
/// A table open for writing, in the transaction `'tx`.
pub type WriteRows<'tx, K, V> = Rows<redb::Table<'tx, K, <V as Stored>::Raw>, K, V>;

/// One row of a range read: its key, borrowed from the backend, and its decoded value.
pub struct Row<'a, K: Key + 'static, V> {
    key: redb::AccessGuard<'a, K>,
    pub value: V,
}

impl<K: Key + 'static, V> Row<'_, K, V> {
    pub fn key(&self) -> K::SelfType<'_> {
        self.key.value()
    }
}

type Guard<'a, K> = redb::AccessGuard<'a, K>;

impl<T, K: Key + 'static, V: Stored> Rows<T, K, V> {
    fn new(inner: Option<T>) -> Self {
        Rows {
            inner,
            _types: PhantomData,
        }
    }
}

impl<T: ReadableTable<K, V::Raw>, K: Key + 'static, V: Stored> Rows<T, K, V> {
    /// The value at `key`.
    pub fn get<'k>(&self, key: impl Borrow<K::SelfType<'k>>) -> Result<Option<V>, StoreError> {
        let Some(t) = &self.inner else {
            return Ok(None);
        };
        match t.get(key)? {
            Some(v) => Ok(Some(V::read(v.value())?)),
            None => Ok(None),
        }
    }

    /// Whether a row is at `key` (without decoding it).
    pub fn contains<'k>(&self, key: impl Borrow<K::SelfType<'k>>) -> Result<bool, StoreError> {
        let Some(t) = &self.inner else {
            return Ok(false);
        };
        Ok(t.get(key)?.is_some())
    }

    /// The rows whose keys fall in `range`, in key order; decoded as they are read.
    pub fn range<'k, KR>(
        &self,
        range: impl RangeBounds<KR> + 'k,
    ) -> Result<impl DoubleEndedIterator<Item = Result<Row<'_, K, V>, StoreError>> + '_, StoreError>
    where
        KR: Borrow<K::SelfType<'k>> + 'k,
    {
        let rows = match &self.inner {
            Some(t) => Some(t.range(range)?),
            None => None,
        };
        Ok(rows.into_iter().flatten().map(|item| {
            let (key, value) = item?;
            Ok(Row {
                value: V::read(value.value())?,
                key,
            })
        }))
    }

    /// The keys in `range`, in key order, without decoding values.
    pub fn keys<'k, KR>(
        &self,
        range: impl RangeBounds<KR> + 'k,
    ) -> Result<impl DoubleEndedIterator<Item = Result<Guard<'_, K>, StoreError>> + '_, StoreError>
    where
        KR: Borrow<K::SelfType<'k>> + 'k,
    {
        let rows = match &self.inner {
            Some(t) => Some(t.range(range)?),
            None => None,
        };
        Ok(rows.into_iter().flatten().map(|item| Ok(item?.0)))
    }

    /// Every row, in key order (hub-level tables and migrations; rooms read a tenant's range).
    pub fn all(
        &self,
    ) -> Result<impl DoubleEndedIterator<Item = Result<Row<'_, K, V>, StoreError>> + '_, StoreError>
    {
        let rows = match &self.inner {
            Some(t) => Some(t.iter()?),
            None => None,
        };
        Ok(rows.into_iter().flatten().map(|item| {
            let (key, value) = item?;
            Ok(Row {
                value: V::read(value.value())?,
                key,
            })
        }))
    }

    /// How many rows the table holds.
    pub fn len(&self) -> Result<u64, StoreError> {
        match &self.inner {
            Some(t) => Ok(t.len()?),
            None => Ok(0),
        }
    }

    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}

impl<'tx, K: Key + 'static, V: Stored> Rows<redb::Table<'tx, K, V::Raw>, K, V> {
    fn table(&mut self) -> &mut redb::Table<'tx, K, V::Raw> {
        // Write handles are always opened (WriteTx::open creates the table).
        self.inner.as_mut().expect("write handles are open")
    }

    /// Writes `value` at `key`.
    pub fn insert<'k>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
        value: &V,
    ) -> Result<(), StoreError> {
        let table = self.table();
        value.write(|raw| table.insert(key, raw).map(|_| ()))?;
        Ok(())
    }

    /// Writes `value` at `key` and returns what was there.
    pub fn replace<'k>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
        value: &V,
    ) -> Result<Option<V>, StoreError> {
        let table = self.table();
        value.write(|raw| match table.insert(key, raw)? {
            Some(old) => Ok(Some(V::read(old.value())?)),
            None => Ok(None),
        })
    }

    /// Removes the row at `key`; returns whether there was one.
    pub fn remove<'k>(&mut self, key: impl Borrow<K::SelfType<'k>>) -> Result<bool, StoreError> {
        Ok(self.table().remove(key)?.is_some())
    }

    /// Removes the row at `key` and returns its value.
    pub fn take<'k>(&mut self, key: impl Borrow<K::SelfType<'k>>) -> Result<Option<V>, StoreError> {
        match self.table().remove(key)? {
            Some(old) => Ok(Some(V::read(old.value())?)),
            None => Ok(None),
        }
    }

    /// Removes every row whose key falls in `range`; returns how many went.
    pub fn remove_range<'k, KR>(
        &mut self,
        range: impl RangeBounds<KR> + 'k,
    ) -> Result<u64, StoreError>
    where
        KR: Borrow<K::SelfType<'k>> + 'k,
    {
        let mut removed = 0;
        self.table().retain_in(range, |_, _| {
            removed += 1;
            false
        })?;
        Ok(removed)
    }

    /// Removes every row.
    pub fn clear(&mut self) -> Result<(), StoreError> {
        self.table().retain(|_, _| false)?;
        Ok(())
    }
}

impl<'tx, K: Key + 'static, R: Record> Rows<redb::Table<'tx, K, &'static [u8]>, K, R> {
    /// Writes at `key` the record `view` stands for ([`View`]), without building the record.
    pub fn insert_view<'k>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
        view: &impl View<R>,
    ) -> Result<(), StoreError> {
        self.table().insert(key, encode_view(view).as_slice())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
