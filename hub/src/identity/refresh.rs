//! Refresh tokens: opaque random secrets, stored as SHA-256 hashes, single use, grouped in
//! families (one per sign-in) so that a replayed token revokes everything it led to.

use super::REFRESH_TOKEN_TTL;
use crate::hub::new_secret;
use crate::store::{RefreshRecord, RefreshSweep, RefreshUse, Store, StoreError, secret_hash};
use std::time::Duration;
use xt_shared::ids::TenantId;
use xt_shared::model::UtcMillis;

fn expiry(now: UtcMillis) -> UtcMillis {
    UtcMillis(now.0 + REFRESH_TOKEN_TTL.as_millis() as i64)
}

/// Starts a family for a sign-in and returns its first token.
pub fn start(
    store: &Store,
    now: UtcMillis,
    tenant: &TenantId,
    username: &str,
    user_id: &str,
) -> Result<String, StoreError> {
    let secret = new_secret("xtr");
    let record = RefreshRecord {
        family: format!("f-{}", hex::encode(rand::random::<[u8; 12]>())),
        tenant: tenant.clone(),
        username: username.to_owned(),
        user_id: user_id.to_owned(),
        issued_at: now,
        expires_at: expiry(now),
        rotated_at: None,
        successor: None,
    };
    store.insert_refresh_family(&secret_hash(&secret), &record)?;
    Ok(secret)
}

/// Trades `secret` for its successor: `Some((successor, record of the presented token))`, or
/// `None` if it is not accepted (see [`Store::use_refresh`]).
pub fn rotate(
    store: &Store,
    now: UtcMillis,
    secret: &str,
    grace: Duration,
) -> Result<Option<(String, RefreshRecord)>, StoreError> {
    let successor = new_secret("xtr");
    let used = store.use_refresh(
        &secret_hash(secret),
        &secret_hash(&successor),
        now,
        grace.as_millis() as i64,
        expiry(now),
    )?;
    Ok(match used {
        RefreshUse::Rotated(record) => Some((successor, record)),
        RefreshUse::ReuseDetected => {
            tracing::warn!("a used refresh token was presented again; its family is revoked");
            None
        }
        RefreshUse::Refused => None,
    })
}

/// Revokes the family of `secret` (sign-out everywhere that session reached).
pub fn revoke(store: &Store, now: UtcMillis, secret: &str) -> Result<bool, StoreError> {
    store.revoke_refresh_family(&secret_hash(secret), now)
}

/// Most refresh tokens (and, separately, families) one sweep transaction deletes.
pub const SWEEP_BATCH_MAX: usize = 1_000;
/// Most batches one sweep runs; what is left waits for the next sweep.
pub const SWEEP_BATCHES_MAX: usize = 100;
/// How often `serve` sweeps (it also sweeps once at start).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(3600);

/// Deletes refresh tokens that can never be accepted again and families left without tokens,
/// in batches of [`SWEEP_BATCH_MAX`] (see [`Store::sweep_refresh`]); returns the totals.
pub fn sweep(store: &Store, now: UtcMillis) -> Result<RefreshSweep, StoreError> {
    let mut total = RefreshSweep::default();
    for _ in 0..SWEEP_BATCHES_MAX {
        let pass = store.sweep_refresh(now, SWEEP_BATCH_MAX)?;
        total.tokens += pass.tokens;
        total.families += pass.families;
        total.more = pass.more;
        if !pass.more {
            break;
        }
    }
    Ok(total)
}

/// Sweeps at once and then every [`SWEEP_INTERVAL`], on the blocking pool, until `token` is
/// cancelled; a sweep in progress finishes first.
pub async fn sweep_periodically(
    hub: std::sync::Arc<crate::hub::Hub>,
    token: crate::supervisor::CancellationToken,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = token.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        let hub = hub.clone();
        let swept =
            tokio::task::spawn_blocking(move || sweep(hub.store(), crate::hub::now_ms())).await;
        match swept {
            Ok(Ok(s)) if s.tokens + s.families > 0 => {
                tracing::info!(
                    tokens = s.tokens,
                    families = s.families,
                    more = s.more,
                    "refresh tokens swept"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "refresh token sweep failed"),
            Err(e) => tracing::warn!(error = %e, "refresh token sweep did not finish"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 24 * 3600 * 1000;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("hub.redb")).unwrap();
        (dir, store)
    }

    fn tenant() -> TenantId {
        TenantId::new("acme").unwrap()
    }

    const GRACE: Duration = Duration::from_secs(30);

    #[test]
    fn sweep_deletes_expired_and_revoked_and_keeps_what_may_still_be_presented() {
        let (_dir, store) = store();
        let t0 = UtcMillis(1_000 * DAY_MS);
        // A session that refreshed once: its first token is rotated out, the second is live.
        let first = start(&store, t0, &tenant(), "ann", "u-1").unwrap();
        let (second, _) = rotate(&store, UtcMillis(t0.0 + 1_000), &first, GRACE)
            .unwrap()
            .unwrap();
        // A signed-out session, and one left alone until it expires.
        let out = start(&store, t0, &tenant(), "bob", "u-2").unwrap();
        assert!(revoke(&store, t0, &out).unwrap());
        let idle = start(&store, t0, &tenant(), "cat", "u-3").unwrap();
        assert_eq!(store.refresh_counts().unwrap(), (4, 3));

        // A day later: only the signed-out session goes.
        let s = sweep(&store, UtcMillis(t0.0 + DAY_MS)).unwrap();
        assert_eq!((s.tokens, s.families, s.more), (1, 1, false));
        assert_eq!(store.refresh_counts().unwrap(), (3, 2));
        // The rotated-out token is still known, so its replay still revokes the family.
        let replay = rotate(&store, UtcMillis(t0.0 + DAY_MS), &first, GRACE).unwrap();
        assert!(replay.is_none());
        assert!(
            rotate(&store, UtcMillis(t0.0 + DAY_MS), &second, GRACE)
                .unwrap()
                .is_none()
        );
        // Ann's family is revoked now: its two tokens and the family go next time.
        let s = sweep(&store, UtcMillis(t0.0 + DAY_MS)).unwrap();
        assert_eq!((s.tokens, s.families), (2, 1));
        assert_eq!(store.refresh_counts().unwrap(), (1, 1));

        // Past the 30-day lifetime the idle token and its family go too.
        let later = UtcMillis(t0.0 + 31 * DAY_MS);
        let s = sweep(&store, later).unwrap();
        assert_eq!((s.tokens, s.families), (1, 1));
        assert_eq!(store.refresh_counts().unwrap(), (0, 0));
        assert!(rotate(&store, later, &idle, GRACE).unwrap().is_none());
        assert_eq!(sweep(&store, later).unwrap(), RefreshSweep::default());
    }

    #[test]
    fn sweep_works_in_bounded_batches() {
        let (_dir, store) = store();
        let t0 = UtcMillis(1_000 * DAY_MS);
        for i in 0..5 {
            start(&store, t0, &tenant(), &format!("u{i}"), "u-x").unwrap();
        }
        let live = start(
            &store,
            UtcMillis(t0.0 + 20 * DAY_MS),
            &tenant(),
            "new",
            "u-y",
        )
        .unwrap();
        let now = UtcMillis(t0.0 + 31 * DAY_MS);
        let first = store.sweep_refresh(now, 2).unwrap();
        assert_eq!((first.tokens, first.more), (2, true));
        let mut tokens = first.tokens;
        let mut families = first.families;
        let mut passes = 1;
        loop {
            let pass = store.sweep_refresh(now, 2).unwrap();
            assert!(pass.tokens <= 2 && pass.families <= 2);
            tokens += pass.tokens;
            families += pass.families;
            passes += 1;
            if !pass.more {
                break;
            }
            assert!(passes < 20, "sweep does not converge");
        }
        assert_eq!((tokens, families), (5, 5));
        assert_eq!(store.refresh_counts().unwrap(), (1, 1));
        assert!(rotate(&store, now, &live, GRACE).unwrap().is_some());
    }
}
