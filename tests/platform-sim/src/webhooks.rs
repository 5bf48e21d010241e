//! Webhooks (Shopify and WooCommerce) after each update round, with the shop's webhook faults:
//! duplicates (same delivery id), reordering, drops and forged signatures.

use crate::model::Family;
use crate::sign::webhook_hmac_sha256;
use crate::state::{Sim, State};
use crate::updates::Change;
use rand::Rng;

/// An update that wants a webhook.
pub(crate) struct Pending {
    pub shop: usize,
    pub change: Change,
    pub body: Vec<u8>,
}

/// One POST to a webhook url.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// A uuid-looking id from the seeded RNG.
fn uuid(rng: &mut impl Rng) -> String {
    let b: [u8; 16] = rng.random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn delivery(state: &mut State, p: &Pending, body: Vec<u8>, secret: &str) -> Option<Delivery> {
    let shop = &state.shops[p.shop];
    let url = shop.spec.webhook_url.clone()?;
    let signature = webhook_hmac_sha256(secret, &body);
    let id = uuid(&mut state.rng);
    let shop = &state.shops[p.shop];
    let headers = match shop.family {
        Family::Shopify => vec![
            (
                "X-Shopify-Topic",
                match p.change {
                    Change::Created => "orders/create",
                    Change::Paid => "orders/paid",
                    Change::Cancelled => "orders/cancelled",
                    Change::Updated => "orders/updated",
                }
                .to_owned(),
            ),
            ("X-Shopify-Hmac-Sha256", signature),
            ("X-Shopify-Shop-Domain", shop.spec.credential(0).to_owned()),
            ("X-Shopify-Webhook-Id", id),
            (
                "X-Shopify-API-Version",
                crate::shopify::API_VERSION.to_owned(),
            ),
        ],
        Family::Woo => vec![
            (
                "X-WC-Webhook-Topic",
                match p.change {
                    Change::Created => "order.created",
                    _ => "order.updated",
                }
                .to_owned(),
            ),
            ("X-WC-Webhook-Signature", signature),
            (
                "X-WC-Webhook-Source",
                format!("https://{}.example/", shop.spec.key),
            ),
            (
                "X-WC-Webhook-ID",
                match p.change {
                    Change::Created => "1",
                    _ => "2",
                }
                .to_owned(),
            ),
            ("X-WC-Webhook-Delivery-ID", id),
        ],
        Family::Top | Family::Jd => return None,
    };
    Some(Delivery { url, headers, body })
}

/// Turns a round's updates into deliveries, applying each shop's webhook faults.
pub(crate) fn prepare(state: &mut State, pending: Vec<Pending>) -> Vec<Delivery> {
    let mut out: Vec<Delivery> = Vec::new();
    let mut held: Vec<Delivery> = Vec::new();
    for p in pending {
        let faults = state.shops[p.shop].spec.faults.clone();
        let secret = state.shops[p.shop].spec.credential(2).to_owned();
        let Some(d) = delivery(state, &p, p.body.clone(), &secret) else {
            continue;
        };
        // A held-back delivery goes out after the next one.
        let release = std::mem::take(&mut held);
        if faults.webhook_drop > 0.0 && state.rng.random_bool(faults.webhook_drop) {
            state.stats.webhooks_dropped += 1;
        } else if faults.webhook_reorder > 0.0 && state.rng.random_bool(faults.webhook_reorder) {
            state.stats.webhooks_reordered += 1;
            held.push(d.clone());
        } else {
            out.push(d.clone());
            if faults.webhook_duplicate > 0.0 && state.rng.random_bool(faults.webhook_duplicate) {
                state.stats.webhooks_duplicated += 1;
                out.push(d.clone());
            }
        }
        out.extend(release);
        if state.shops[p.shop].forged_left > 0 {
            state.shops[p.shop].forged_left -= 1;
            state.stats.webhooks_forged += 1;
            // The body altered as an attacker would, signed with a key that is not the shop's.
            let mut forged_body = p.body.clone();
            forged_body.extend_from_slice(b" ");
            if let Some(f) = delivery(state, &p, forged_body, "not-the-webhook-secret") {
                out.push(f);
            }
        }
    }
    out.extend(held);
    out
}

/// Sends the deliveries in order, one attempt each; one without an HTTP answer is only counted.
pub(crate) async fn deliver(sim: &Sim, deliveries: Vec<Delivery>) {
    for d in deliveries {
        let mut request = sim
            .http
            .post(&d.url)
            .header("Content-Type", "application/json")
            .body(d.body);
        for (name, value) in &d.headers {
            request = request.header(*name, value);
        }
        // Any HTTP answer counts as delivered (a forged one should get 401).
        let ok = match request.send().await {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(url = %d.url, error = %e, "webhook delivery failed");
                false
            }
        };
        let mut state = sim.lock();
        if ok {
            state.stats.webhooks_sent += 1;
        } else {
            state.stats.webhooks_failed += 1;
        }
    }
}
