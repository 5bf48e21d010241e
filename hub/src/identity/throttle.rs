//! Sign-in throttling with keyed token buckets: one per client address, one per account *and*
//! address, and a generous ceiling per account. Failures from one address therefore cannot lock
//! the account out for its owner signing in from another address; only a flood from many
//! addresses reaches the ceiling. IPv6 clients are keyed by their /64 (one subscriber's
//! allocation), so rotating through one prefix buys nothing.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;
use xt_shared::ids::TenantId;

/// Sign-in attempts one account may make from one client address in a burst.
pub const LOGIN_ACCOUNT_BURST: u32 = 5;
/// After the burst, one more attempt per account and address per this long.
pub const LOGIN_ACCOUNT_REFILL: Duration = Duration::from_secs(12);
/// Sign-in attempts one account may make from all addresses together in a burst: far above what
/// its people need, so only a distributed guessing attack reaches it.
pub const LOGIN_ACCOUNT_CEILING_BURST: u32 = 100;
/// After the ceiling's burst, one more attempt per account per this long.
pub const LOGIN_ACCOUNT_CEILING_REFILL: Duration = Duration::from_secs(3);
/// Sign-in attempts one client address may make in a burst (offices share addresses).
pub const LOGIN_CLIENT_BURST: u32 = 30;
/// After the burst, one more attempt per client address per this long.
pub const LOGIN_CLIENT_REFILL: Duration = Duration::from_secs(2);
/// Keys a limiter tracks before idle ones are dropped.
pub const LOGIN_THROTTLE_KEYS_MAX: usize = 100_000;

/// How a client address is throttled: IPv4 (and IPv4-mapped IPv6) by address, IPv6 by /64.
/// The key of a client address in the throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An IPv4 address.
    V4(std::net::Ipv4Addr),
    /// The first 64 bits of the address.
    V6Prefix(u64),
}

impl ClientKey {
    /// The key `ip` is throttled under.
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientKey::V4(v4),
            IpAddr::V6(v6) => ClientKey::V6Prefix((v6.to_bits() >> 64) as u64),
        }
    }
}

/// An account: the tenant and the username as given.
type Account = (TenantId, String);

pub struct LoginThrottle {
    /// Per account and client address (`None` when the address is unknown).
    account_clients: DefaultKeyedRateLimiter<(Account, Option<ClientKey>)>,
    /// Per account, whatever the address: the ceiling.
    accounts: DefaultKeyedRateLimiter<Account>,
    clients: DefaultKeyedRateLimiter<ClientKey>,
    clock: DefaultClock,
}

fn quota(burst: u32, refill: Duration) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(refill)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

/// The sign-in budgets. [`ThrottleLimits::default`] is what a hub serves with; other values are
/// for benchmarks and tests that sign in far more often than people do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// Attempts one account may make from one client address in a burst.
    pub account_burst: u32,
    /// After the burst, one more attempt per account and address per this long.
    pub account_refill: Duration,
    /// Attempts one account may make from all addresses together in a burst.
    pub account_ceiling_burst: u32,
    /// After the ceiling's burst, one more attempt per account per this long.
    pub account_ceiling_refill: Duration,
    /// Attempts one client address may make in a burst.
    pub client_burst: u32,
    /// After the burst, one more attempt per client address per this long.
    pub client_refill: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        ThrottleLimits {
            account_burst: LOGIN_ACCOUNT_BURST,
            account_refill: LOGIN_ACCOUNT_REFILL,
            account_ceiling_burst: LOGIN_ACCOUNT_CEILING_BURST,
            account_ceiling_refill: LOGIN_ACCOUNT_CEILING_REFILL,
            client_burst: LOGIN_CLIENT_BURST,
            client_refill: LOGIN_CLIENT_REFILL,
        }
    }
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(ThrottleLimits::default())
    }
}

impl LoginThrottle {
    pub fn new(limits: ThrottleLimits) -> LoginThrottle {
        LoginThrottle {
            account_clients: DefaultKeyedRateLimiter::keyed(quota(
                limits.account_burst,
                limits.account_refill,
            )),
            accounts: DefaultKeyedRateLimiter::keyed(quota(
                limits.account_ceiling_burst,
                limits.account_ceiling_refill,
            )),
            clients: DefaultKeyedRateLimiter::keyed(quota(
                limits.client_burst,
                limits.client_refill,
            )),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one attempt from the client's, the account-and-client's and the account's
    /// budgets, in that order (an attempt refused by one does not spend the later ones, so a
    /// throttled address cannot drain the account's ceiling); `Err(seconds to wait)` if one is
    /// exhausted.
    pub fn check(
        &self,
        tenant: &TenantId,
        username: &str,
        client: Option<IpAddr>,
    ) -> Result<(), u64> {
        let client = client.map(ClientKey::of);
        if let Some(key) = &client {
            self.take(&self.clients, key)?;
        }
        let account = (tenant.clone(), username.to_owned());
        self.take(&self.account_clients, &(account.clone(), client))?;
        self.take(&self.accounts, &account)
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
    fn custom_limits_apply_and_the_default_stays_strict() {
        let tenant = TenantId::new("acme").unwrap();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let roomy = LoginThrottle::new(ThrottleLimits {
            client_burst: 1_000,
            account_burst: 1_000,
            account_ceiling_burst: 1_000,
            ..ThrottleLimits::default()
        });
        for i in 0..500 {
            assert!(
                roomy
                    .check(&tenant, &format!("u{}", i % 3), Some(ip))
                    .is_ok()
            );
        }
        assert_eq!(ThrottleLimits::default().client_burst, LOGIN_CLIENT_BURST);
        assert_eq!(ThrottleLimits::default().account_burst, LOGIN_ACCOUNT_BURST);
    }

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
        // One account tried from many addresses runs out of the account's ceiling.
        for i in 0..LOGIN_ACCOUNT_CEILING_BURST {
            let other = IpAddr::from([198, 51, (i / 250) as u8, (i % 250) as u8]);
            assert!(throttle.check(&tenant, "target", Some(other)).is_ok());
        }
        let last: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(throttle.check(&tenant, "target", Some(last)).is_err());
        // Another tenant's account of the same name is a different account.
        let beta = TenantId::new("beta").unwrap();
        assert!(throttle.check(&beta, "target", Some(last)).is_ok());
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_and_mapped_ipv4_by_the_address() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::of(a), ClientKey::of(b));
        assert_ne!(ClientKey::of(a), ClientKey::of(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(ClientKey::of(mapped), ClientKey::of(v4));
    }
}
