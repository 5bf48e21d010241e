//! The one codec of stored records: every value in every table is a version byte followed by the
//! postcard bytes of the record as that version laid it out.
//!
//! A record type says its current version and how each older version reads
//! ([`Record::read_older`]); [`encode`] always writes the current version, [`decode`] reads any
//! version the record ever had. A [`View`] borrows what a record would hold and encodes as it. Changing a record means: keep the old layout as a `…V<n>` type,
//! add `From<…V<n>>`, bump [`Record::VERSION`], read the old one in `read_older`, and keep its
//! bytes in a golden file (`hub/tests/fixtures/records/`, checked by `hub/tests/records.rs`).
//! Invariant: bytes a released version wrote always decode, to the same meaning.

use super::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A stored record: its name (for errors), its current version and how older versions read.
pub trait Record: Serialize + DeserializeOwned {
    /// What the record is, for error messages (its table's name).
    const NAME: &'static str;
    /// The version byte [`encode`] writes.
    const VERSION: u8;

    /// Reads the payload of an older `version` (what follows the version byte) as the current
    /// record; `None` when the record never had that version. Records still at their first
    /// version answer `None` for everything (see [`first_version`]).
    fn read_older(version: u8, payload: &[u8]) -> Option<Result<Self, postcard::Error>>;
}

/// The [`Record::read_older`] of a record that never had another version.
pub fn first_version<R>(_version: u8, _payload: &[u8]) -> Option<Result<R, postcard::Error>> {
    None
}

/// Reads `payload` as the older layout `Old` and converts it.
pub fn older<Old: DeserializeOwned, R: From<Old>>(
    payload: &[u8],
) -> Option<Result<R, postcard::Error>> {
    Some(postcard::from_bytes::<Old>(payload).map(R::from))
}

/// Declares records that are at their first version, `NAME => type`, all at version 1.
macro_rules! first_version_records {
    ($($name:literal => $t:ty,)*) => {$(
        impl $crate::store::codec::Record for $t {
            const NAME: &'static str = $name;
            const VERSION: u8 = 1;
            fn read_older(
                version: u8,
                payload: &[u8],
            ) -> Option<Result<Self, postcard::Error>> {
                $crate::store::codec::first_version(version, payload)
            }
        }
    )*};
}
pub(crate) use first_version_records;

/// The stored bytes of `record`, at its current version.
pub fn encode<R: Record>(record: &R) -> Vec<u8> {
    encode_as(R::VERSION, record)
}

/// A borrowed form of the record `R` that serializes to exactly the bytes `R` does (its owner
/// proves that with a test), so a record is written from what it borrows without being built.
pub trait View<R: Record>: Serialize {}

/// The stored bytes of the record `view` stands for, at `R`'s current version.
pub fn encode_view<R: Record>(view: &impl View<R>) -> Vec<u8> {
    encode_as(R::VERSION, view)
}

/// `value` stored under version byte `version`: for writing an older layout in upgrade tests.
pub fn encode_as<T: Serialize>(version: u8, value: &T) -> Vec<u8> {
    // Records and their views are plain data: encoding cannot fail. Written straight behind the
    // version byte (not into a vector of their own, then copied).
    postcard::to_extend(value, vec![version]).expect("record encodes")
}

/// Reads stored bytes of any version `R` ever had.
pub fn decode<R: Record>(bytes: &[u8]) -> Result<R, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        table: R::NAME,
        reason,
    };
    let Some((&version, payload)) = bytes.split_first() else {
        return Err(corrupt("empty record".into()));
    };
    let read = if version == R::VERSION {
        Some(postcard::from_bytes(payload))
    } else {
        R::read_older(version, payload)
    };
    match read {
        Some(Ok(record)) => Ok(record),
        Some(Err(e)) => Err(corrupt(format!("version {version}: {e}"))),
        None => Err(corrupt(format!("unknown record version {version}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Now {
        a: u32,
        b: String,
    }
    #[derive(Deserialize)]
    struct Then {
        a: u32,
    }
    impl From<Then> for Now {
        fn from(t: Then) -> Now {
            Now {
                a: t.a,
                b: "default".into(),
            }
        }
    }
    impl Record for Now {
        const NAME: &'static str = "now";
        const VERSION: u8 = 2;
        fn read_older(version: u8, payload: &[u8]) -> Option<Result<Self, postcard::Error>> {
            match version {
                1 => older::<Then, Now>(payload),
                _ => None,
            }
        }
    }

    #[test]
    fn the_current_version_round_trips_and_older_ones_read() {
        let now = Now {
            a: 7,
            b: "x".into(),
        };
        let bytes = encode(&now);
        assert_eq!(bytes[0], 2);
        assert_eq!(decode::<Now>(&bytes).unwrap(), now);
        let v1 = encode_as(1, &7u32);
        assert_eq!(
            decode::<Now>(&v1).unwrap(),
            Now {
                a: 7,
                b: "default".into()
            }
        );
    }

    #[test]
    fn unknown_versions_empty_and_truncated_bytes_are_errors_naming_the_record() {
        for (bytes, says) in [
            (vec![], "empty record"),
            (vec![9, 1], "unknown record version 9"),
            (vec![2], "version 2: "),
        ] {
            let e = decode::<Now>(&bytes).unwrap_err().to_string();
            assert!(e.contains("now") && e.contains(says), "{e}");
        }
    }
}
