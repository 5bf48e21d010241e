//! Which internal SKU a platform order line maps to, and under which key a SKU mapping is kept.
//!
//! *Invariant:* no IO. A line's SKU comes from the first source that answers, most explicit
//! first: a mapping of its platform SKU id, a mapping of its merchant code, then the merchant
//! code itself when the tenant stocks it. The transaction answers each lookup as it is asked, so
//! a line mapped by id never reads the stock table (the apply path is a hot one). Taobao and
//! Tmall share one mapping scope (one item catalogue).

use super::store::SkuMapping;
use xt_shared::order::{OrderLine, Platform, StandardOrder};

#[cfg(test)]
mod tests;

/// The SKU-mapping scope of a platform: Taobao and Tmall share one item catalogue.
pub fn scope(p: Platform) -> &'static str {
    match p {
        Platform::Tmall => Platform::Taobao.as_str(),
        other => other.as_str(),
    }
}

/// What a mapping is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MappingKind {
    /// The platform's SKU or variant id.
    Id,
    /// The merchant's SKU code.
    Code,
}

impl MappingKind {
    /// As stored in the mapping tables' keys.
    pub fn as_str(self) -> &'static str {
        match self {
            MappingKind::Id => "id",
            MappingKind::Code => "code",
        }
    }
}

/// The key of a mapping: (scope, kind, value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingKey<'a> {
    /// [`scope`] of the platform.
    pub scope: &'static str,
    pub kind: MappingKind,
    pub value: &'a str,
}

/// Where a line's internal SKU may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkuSource<'a> {
    /// The mapping under this key, if there is one.
    Mapping(MappingKey<'a>),
    /// This merchant code, if the tenant stocks it (in any of its warehouses).
    Stocked(&'a str),
}

/// The sources of a line's SKU, most explicit first.
pub fn sources(platform: Platform, line: &OrderLine) -> impl Iterator<Item = SkuSource<'_>> {
    let scope = scope(platform);
    let key = |kind, value| SkuSource::Mapping(MappingKey { scope, kind, value });
    let id = line
        .platform_sku_id
        .as_deref()
        .map(|id| key(MappingKind::Id, id));
    let code = line.merchant_sku.as_ref().map(|c| c.as_str());
    let by_code = code.map(|c| key(MappingKind::Code, c));
    let stocked = code.map(SkuSource::Stocked);
    id.into_iter().chain(by_code).chain(stocked)
}

/// The internal SKU of each line of `order`: the SKU the first of its [`sources`] gives.
/// `answer` answers one source (the mapping's SKU, the code when stocked, `None` otherwise)
/// and is asked only until one answers.
pub fn line_skus<E>(
    order: &StandardOrder,
    mut answer: impl FnMut(SkuSource<'_>) -> Result<Option<String>, E>,
) -> Result<Vec<Option<String>>, E> {
    let mut skus = Vec::with_capacity(order.lines.len());
    for line in &order.lines {
        let mut found = None;
        for source in sources(order.platform, line) {
            found = answer(source)?;
            if found.is_some() {
                break;
            }
        }
        skus.push(found);
    }
    Ok(skus)
}

/// Why a new mapping is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingRefused {
    #[error("a mapping needs a platform SKU id or a merchant code")]
    NoKey,
    #[error("{scope} {} {value:?} is already mapped", match kind {
        MappingKind::Id => "platform SKU id",
        MappingKind::Code => "merchant code",
    })]
    Taken {
        scope: &'static str,
        kind: MappingKind,
        value: String,
    },
}

/// The key a new mapping is kept under: its platform SKU id, else its merchant code.
pub fn mapping_key(mapping: &SkuMapping) -> Result<MappingKey<'_>, MappingRefused> {
    let (kind, value) = match (&mapping.platform_sku_id, &mapping.merchant_sku) {
        (Some(id), _) => (MappingKind::Id, id.as_str()),
        (None, Some(code)) => (MappingKind::Code, code.as_str()),
        (None, None) => return Err(MappingRefused::NoKey),
    };
    Ok(MappingKey {
        scope: scope(mapping.platform),
        kind,
        value,
    })
}

/// Whether a mapping under `key` may be added: not when `taken` (one is kept under it already).
pub fn admit(key: MappingKey<'_>, taken: bool) -> Result<(), MappingRefused> {
    if taken {
        return Err(MappingRefused::Taken {
            scope: key.scope,
            kind: key.kind,
            value: key.value.to_owned(),
        });
    }
    Ok(())
}
