//! Sign-in throttling: a keyed token bucket per account and one per client address.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;
use xt_shared::ids::TenantId;

/// Sign-in attempts one account may make in a burst.
pub const LOGIN_ACCOUNT_BURST: u32 = 5;
/// After the burst, one more attempt per account per this long.
pub const LOGIN_ACCOUNT_REFILL: Duration = Duration::from_secs(12);
/// Sign-in attempts one client address may make in a burst (offices share addresses).
pub const LOGIN_CLIENT_BURST: u32 = 30;
/// After the burst, one more attempt per client address per this long.
pub const LOGIN_CLIENT_REFILL: Duration = Duration::from_secs(2);
/// Keys a limiter tracks before idle ones are dropped.
pub const LOGIN_THROTTLE_KEYS_MAX: usize = 100_000;

pub struct LoginThrottle {
    accounts: DefaultKeyedRateLimiter<(TenantId, String)>,
    clients: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

fn quota(burst: u32, refill: Duration) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(refill)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(
            (LOGIN_ACCOUNT_BURST, LOGIN_ACCOUNT_REFILL),
            (LOGIN_CLIENT_BURST, LOGIN_CLIENT_REFILL),
        )
    }
}

impl LoginThrottle {
    /// A throttle with `(burst, refill)` budgets per account and per client address.
    pub fn new(account: (u32, Duration), client: (u32, Duration)) -> LoginThrottle {
        LoginThrottle {
            accounts: DefaultKeyedRateLimiter::keyed(quota(account.0, account.1)),
            clients: DefaultKeyedRateLimiter::keyed(quota(client.0, client.1)),
            clock: DefaultClock::default(),
        }
    }
}

impl LoginThrottle {
    /// Takes one attempt from the client's and the account's budgets; `Err(seconds to wait)`
    /// if either is exhausted.
    pub fn check(
        &self,
        tenant: &TenantId,
        username: &str,
        client: Option<IpAddr>,
    ) -> Result<(), u64> {
        if let Some(ip) = client {
            self.take(&self.clients, &ip)?;
        }
        self.take(&self.accounts, &(tenant.clone(), username.to_owned()))
    }

    fn take<K: Hash + Eq + Clone>(
        &self,
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
    ) -> Result<(), u64> {
        if limiter.len() >= LOGIN_THROTTLE_KEYS_MAX {
            limiter.retain_recent();
        }
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_budget_spans_accounts_and_account_budget_spans_clients() {
        let throttle = LoginThrottle::default();
        let tenant = TenantId::new("acme").unwrap();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        // One address trying many accounts runs out of its own budget.
        for i in 0..LOGIN_CLIENT_BURST {
            assert!(throttle.check(&tenant, &format!("u{i}"), Some(ip)).is_ok());
        }
        let wait = throttle.check(&tenant, "fresh", Some(ip)).unwrap_err();
        assert!(wait >= 1);
        // One account tried from many addresses runs out of the account's budget.
        for i in 0..LOGIN_ACCOUNT_BURST {
            let other: IpAddr = format!("198.51.100.{i}").parse().unwrap();
            assert!(throttle.check(&tenant, "target", Some(other)).is_ok());
        }
        let last: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(throttle.check(&tenant, "target", Some(last)).is_err());
        // Another tenant's account of the same name is a different account.
        let beta = TenantId::new("beta").unwrap();
        assert!(throttle.check(&beta, "target", Some(last)).is_ok());
    }
}
