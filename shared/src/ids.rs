//! Validated identifiers. Every id that crosses a boundary is parsed once into one of these.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest id we accept, in bytes. Legacy codes are short; anything longer is a mapping mistake.
pub const ID_BYTES_MAX: usize = 64;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} is empty")]
    Empty { kind: &'static str },
    #[error("{kind} {value:?} is longer than {ID_BYTES_MAX} bytes")]
    TooLong { kind: &'static str, value: String },
    #[error("{kind} {value:?} contains a control character or surrounding whitespace")]
    BadChar { kind: &'static str, value: String },
    #[error("{kind} {value:?} may only contain letters, digits, '-', '_' and '.'")]
    NotSlug { kind: &'static str, value: String },
}

fn check(kind: &'static str, value: &str, slug: bool) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > ID_BYTES_MAX {
        return Err(IdError::TooLong {
            kind,
            value: value.to_owned(),
        });
    }
    if value.chars().any(char::is_control) || value.trim() != value {
        return Err(IdError::BadChar {
            kind,
            value: value.to_owned(),
        });
    }
    if slug
        && !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(IdError::NotSlug {
            kind,
            value: value.to_owned(),
        });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, slug = $slug:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps `value`.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                check($kind, &value, $slug)?;
                Ok(Self(value))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        // Deserialization validates too, so a peer cannot smuggle an invalid id past the type.
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A tenant (one merchant). Slug: letters, digits, `-`, `_`, `.`.
    TenantId, "tenant id", slug = true
);
id_type!(
    /// An enrolled agent, assigned by the hub at enrollment.
    AgentId, "agent id", slug = true
);
id_type!(
    /// A named source inside one agent's config (`[[source]] name`).
    SourceName, "source name", slug = true
);
id_type!(
    /// A site (a physical place an agent runs at).
    SiteId, "site id", slug = true
);
id_type!(
    /// A warehouse code as the legacy WMS names it.
    WarehouseCode, "warehouse code", slug = false
);
id_type!(
    /// A stock keeping unit code (merchant SKU code).
    Sku, "sku", slug = false
);
id_type!(
    /// A document number from a legacy or platform system (delivery no, flow no, order no …).
    DocNo, "document number", slug = false
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_validate() {
        assert!(Sku::new("A-1 红色").is_ok());
        assert_eq!(Sku::new(""), Err(IdError::Empty { kind: "sku" }));
        assert!(matches!(Sku::new(" A"), Err(IdError::BadChar { .. })));
        assert!(matches!(Sku::new("a\nb"), Err(IdError::BadChar { .. })));
        assert!(matches!(
            Sku::new("x".repeat(65)),
            Err(IdError::TooLong { .. })
        ));
        assert!(matches!(TenantId::new("a b"), Err(IdError::NotSlug { .. })));
        assert!(TenantId::new("acme-01").is_ok());
    }

    #[test]
    fn deserialize_validates() {
        let bytes = postcard::to_allocvec(&"").unwrap();
        assert!(postcard::from_bytes::<Sku>(&bytes).is_err());
        let bytes = postcard::to_allocvec(&"SKU1").unwrap();
        assert_eq!(
            postcard::from_bytes::<Sku>(&bytes).unwrap().as_str(),
            "SKU1"
        );
    }
}
