//! A shop's platform credentials: one typed value per platform, from the API's validated input
//! down to the channel clients and the webhook check, so no caller reads a secret by position.
//!
//! The value never prints a secret: `Debug` shows the platform and the public id masked, and
//! there is no `Display` and no `Serialize` (the hub stores it through its own sealed record).

use crate::order::Platform;
use std::fmt;

/// The credentials of one shop, the fields of its platform. The first field of each variant is
/// the platform's public id (kept in plain text by the hub, shown masked); the others are
/// secrets.
#[derive(Clone, PartialEq, Eq)]
pub enum ShopCredentials {
    /// Taobao and Tmall (TOP): the app's key and secret, the shop's session key.
    Taobao {
        app_key: String,
        app_secret: String,
        session: String,
    },
    /// JD (京东 POP).
    Jd {
        app_key: String,
        app_secret: String,
        access_token: String,
    },
    /// Shopify: the shop's domain, an Admin API access token and the webhooks' signing secret.
    Shopify {
        shop_domain: String,
        access_token: String,
        webhook_secret: String,
    },
    /// WooCommerce REST API keys and the webhooks' signing secret.
    Woocommerce {
        consumer_key: String,
        consumer_secret: String,
        webhook_secret: String,
    },
}

impl ShopCredentials {
    /// The platform's public id: app key, shop domain or consumer key.
    pub fn public_id(&self) -> &str {
        match self {
            ShopCredentials::Taobao { app_key, .. } | ShopCredentials::Jd { app_key, .. } => {
                app_key
            }
            ShopCredentials::Shopify { shop_domain, .. } => shop_domain,
            ShopCredentials::Woocommerce { consumer_key, .. } => consumer_key,
        }
    }

    /// The secret that signs the platform's webhooks (Shopify, WooCommerce); `None` for the
    /// platforms without webhooks.
    pub fn webhook_secret(&self) -> Option<&str> {
        match self {
            ShopCredentials::Taobao { .. } | ShopCredentials::Jd { .. } => None,
            ShopCredentials::Shopify { webhook_secret, .. }
            | ShopCredentials::Woocommerce { webhook_secret, .. } => Some(webhook_secret),
        }
    }

    /// Whether these are credentials of `platform` (Tmall shops take Taobao's).
    pub fn fits(&self, platform: Platform) -> bool {
        matches!(
            (self, platform),
            (
                ShopCredentials::Taobao { .. },
                Platform::Taobao | Platform::Tmall
            ) | (ShopCredentials::Jd { .. }, Platform::Jd)
                | (ShopCredentials::Shopify { .. }, Platform::Shopify)
                | (ShopCredentials::Woocommerce { .. }, Platform::Woocommerce)
        )
    }

    /// The platform family's name, for messages (`taobao` also stands for Tmall).
    pub fn kind(&self) -> &'static str {
        match self {
            ShopCredentials::Taobao { .. } => "taobao",
            ShopCredentials::Jd { .. } => "jd",
            ShopCredentials::Shopify { .. } => "shopify",
            ShopCredentials::Woocommerce { .. } => "woocommerce",
        }
    }
}

/// `"ab…yz"` for ids of 8 characters or more, `"…"` for shorter ones.
fn masked(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() < 8 {
        return "…".to_owned();
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}…{tail}")
}

impl fmt::Debug for ShopCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(match self {
            ShopCredentials::Taobao { .. } => "ShopCredentials::Taobao",
            ShopCredentials::Jd { .. } => "ShopCredentials::Jd",
            ShopCredentials::Shopify { .. } => "ShopCredentials::Shopify",
            ShopCredentials::Woocommerce { .. } => "ShopCredentials::Woocommerce",
        })
        .field("public_id", &masked(self.public_id()))
        .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> [ShopCredentials; 4] {
        [
            ShopCredentials::Taobao {
                app_key: "tb-app-key-1".into(),
                app_secret: "S3CRET-a".into(),
                session: "S3CRET-b".into(),
            },
            ShopCredentials::Jd {
                app_key: "jd-app-key-1".into(),
                app_secret: "S3CRET-a".into(),
                access_token: "S3CRET-b".into(),
            },
            ShopCredentials::Shopify {
                shop_domain: "golden.myshopify.com".into(),
                access_token: "S3CRET-a".into(),
                webhook_secret: "S3CRET-b".into(),
            },
            ShopCredentials::Woocommerce {
                consumer_key: "ck_0123456789".into(),
                consumer_secret: "S3CRET-a".into(),
                webhook_secret: "S3CRET-b".into(),
            },
        ]
    }

    #[test]
    fn debug_never_prints_a_secret_nor_the_whole_public_id() {
        for c in all() {
            let shown = format!("{c:?} {c:#?}");
            assert!(!shown.contains("S3CRET"), "{shown}");
            assert!(!shown.contains(c.public_id()), "{shown}");
            let id = c.public_id();
            let masked = format!("{}…{}", &id[..2], &id[id.len() - 2..]);
            assert!(shown.contains(&masked), "{shown}");
        }
    }

    #[test]
    fn the_webhook_secret_is_the_signing_secret_of_the_platforms_with_webhooks() {
        let [taobao, jd, shopify, woo] = all();
        assert_eq!(taobao.webhook_secret(), None);
        assert_eq!(jd.webhook_secret(), None);
        assert_eq!(shopify.webhook_secret(), Some("S3CRET-b"));
        assert_eq!(woo.webhook_secret(), Some("S3CRET-b"));
    }

    #[test]
    fn tmall_shops_take_taobao_credentials_and_no_platform_takes_another() {
        let [taobao, jd, shopify, woo] = all();
        assert!(taobao.fits(Platform::Taobao) && taobao.fits(Platform::Tmall));
        assert!(jd.fits(Platform::Jd) && !jd.fits(Platform::Taobao));
        assert!(shopify.fits(Platform::Shopify) && !shopify.fits(Platform::Woocommerce));
        assert!(woo.fits(Platform::Woocommerce) && !woo.fits(Platform::Shopify));
    }
}
