//! Member linking, case by case. A case's state is the identity index (scope, kind, value →
//! member) and the members' records; its input a buyer of a shop and `now`; its decision the
//! member, and what linking writes (the record, the identities new to the index) or `no write`.
//! Member ids of new buyers are pinned: they are stored, so the derivation never changes.

use super::*;
use crate::orders::cases::{check, or_dash, order, with};
use xt_shared::order::Platform;

/// (scope, kind, value, member).
type Indexed = (&'static str, &'static str, &'static str, &'static str);

/// A member's record: id, its identities as (scope, kind, value), first and last seen.
type Member = (
    &'static str,
    &'static [(&'static str, &'static str, &'static str)],
    i64,
    i64,
);

fn record((id, identities, first, last): Member) -> MemberRecord {
    MemberRecord {
        id: id.into(),
        identities: identities
            .iter()
            .map(|(scope, kind, value)| Identity {
                platform: Platform::Taobao,
                scope: (*scope).into(),
                kind: (*kind).into(),
                value: (*value).into(),
            })
            .collect(),
        first_seen: UtcMillis(first),
        last_seen: UtcMillis(last),
    }
}

/// A buyer: open uid, customer id, hashed email.
type Buyer = (
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

struct Case {
    name: &'static str,
    tenant: &'static str,
    index: &'static [Indexed],
    members: &'static [Member],
    shop: &'static str,
    buyer: Buyer,
    now: i64,
    expect: &'static str,
}

const ACME: &str = "acme";
const M1: Member = ("mem-1", &[("shop-a", "open_uid", "u1")], 10, 50);

fn render_ids(ids: &[Identity]) -> String {
    let ids: Vec<String> = ids
        .iter()
        .map(|i| format!("{} {} {}", i.scope, i.kind, i.value))
        .collect();
    ids.join(", ")
}

#[test]
fn linking() {
    let cases = [
        Case {
            name: "a buyer without identities is no member",
            tenant: ACME,
            index: &[],
            members: &[],
            shop: "shop-a",
            buyer: (None, None, None),
            now: 100,
            expect: "member -",
        },
        Case {
            name: "a new buyer is a new member, id derived from the tenant and its first identity",
            tenant: ACME,
            index: &[],
            members: &[],
            shop: "shop-a",
            buyer: (Some("u1"), None, Some("e1")),
            now: 100,
            expect: "member mem-585a03e611c27f5e; seen 100..100; \
                     identities shop-a open_uid u1, * email_sha256 e1; \
                     new shop-a open_uid u1, * email_sha256 e1",
        },
        Case {
            name: "the same buyer in another tenant is another member",
            tenant: "beta",
            index: &[],
            members: &[],
            shop: "shop-a",
            buyer: (Some("u1"), None, None),
            now: 100,
            expect: "member mem-31c951c69244b58d; seen 100..100; \
                     identities shop-a open_uid u1; new shop-a open_uid u1",
        },
        Case {
            name: "an open uid is per shop: the same one in another shop is another buyer",
            tenant: ACME,
            index: &[("shop-a", "open_uid", "u1", "mem-1")],
            members: &[M1],
            shop: "shop-b",
            buyer: (Some("u1"), None, None),
            now: 100,
            expect: "member mem-602f85503b82a70b; seen 100..100; \
                     identities shop-b open_uid u1; new shop-b open_uid u1",
        },
        Case {
            name: "an empty value is no identity: the id derives from the first real one",
            tenant: ACME,
            index: &[],
            members: &[],
            shop: "shop-a",
            buyer: (Some(""), Some("c1"), Some("")),
            now: 100,
            expect: "member mem-07c916dc9780740a; seen 100..100; \
                     identities shop-a customer_id c1; new shop-a customer_id c1",
        },
        Case {
            name: "a known identity links to its member, which gains the new identities",
            tenant: ACME,
            index: &[("shop-a", "open_uid", "u1", "mem-1")],
            members: &[M1],
            shop: "shop-a",
            buyer: (Some("u1"), None, Some("e1")),
            now: 100,
            expect: "member mem-1; seen 10..100; \
                     identities shop-a open_uid u1, * email_sha256 e1; new * email_sha256 e1",
        },
        Case {
            name: "a hashed email links buyers across shops",
            tenant: ACME,
            index: &[
                ("shop-a", "open_uid", "u1", "mem-1"),
                ("*", "email_sha256", "e1", "mem-1"),
            ],
            members: &[(
                "mem-1",
                &[("shop-a", "open_uid", "u1"), ("*", "email_sha256", "e1")],
                10,
                50,
            )],
            shop: "shop-b",
            buyer: (Some("u2"), None, Some("e1")),
            now: 100,
            expect: "member mem-1; seen 10..100; \
                     identities shop-a open_uid u1, * email_sha256 e1, shop-b open_uid u2; \
                     new shop-b open_uid u2",
        },
        Case {
            name: "of two members known, the first identity's wins and the other's stays",
            tenant: ACME,
            index: &[
                ("shop-a", "open_uid", "u1", "mem-1"),
                ("*", "email_sha256", "e1", "mem-2"),
            ],
            members: &[M1, ("mem-2", &[("*", "email_sha256", "e1")], 20, 60)],
            shop: "shop-a",
            buyer: (Some("u1"), None, Some("e1")),
            now: 100,
            expect: "member mem-1; seen 10..100; identities shop-a open_uid u1; new",
        },
        Case {
            name: "a returning buyer with nothing new moves last_seen forward",
            tenant: ACME,
            index: &[("shop-a", "open_uid", "u1", "mem-1")],
            members: &[M1],
            shop: "shop-a",
            buyer: (Some("u1"), None, None),
            now: 100,
            expect: "member mem-1; seen 10..100; identities shop-a open_uid u1; new",
        },
        Case {
            name: "a buyer seen at an earlier now writes nothing: last_seen never goes back",
            tenant: ACME,
            index: &[("shop-a", "open_uid", "u1", "mem-1")],
            members: &[M1],
            shop: "shop-a",
            buyer: (Some("u1"), None, None),
            now: 40,
            expect: "member mem-1; no write",
        },
        Case {
            name: "a new identity at an earlier now is added, last_seen kept",
            tenant: ACME,
            index: &[("shop-a", "open_uid", "u1", "mem-1")],
            members: &[M1],
            shop: "shop-a",
            buyer: (Some("u1"), Some("c9"), None),
            now: 40,
            expect: "member mem-1; seen 10..50; \
                     identities shop-a open_uid u1, shop-a customer_id c9; \
                     new shop-a customer_id c9",
        },
    ];
    check(cases.into_iter().map(|c| {
        let (open_uid, customer_id, email) = c.buyer;
        let o = with(order("1001", 10), |o| {
            o.buyer.open_uid = open_uid.map(str::to_owned);
            o.buyer.customer_id = customer_id.map(str::to_owned);
            o.buyer.email_sha256 = email.map(str::to_owned);
        });
        let ids = identities(c.shop, &o);
        let known: Vec<Option<String>> = ids
            .iter()
            .map(|i| {
                c.index
                    .iter()
                    .find(|(s, k, v, _)| {
                        (*s, *k, *v) == (i.scope.as_str(), i.kind.as_str(), i.value.as_str())
                    })
                    .map(|(.., m)| (*m).to_owned())
            })
            .collect();
        let member = member_id(c.tenant, &ids, &known);
        let Some(member) = member else {
            return (c.name, format!("member {}", or_dash(None)), c.expect);
        };
        let stored = c.members.iter().find(|m| m.0 == member).map(|m| record(*m));
        let actual = match link(&member, stored, ids, &known, UtcMillis(c.now)) {
            None => format!("member {member}; no write"),
            Some(w) => {
                assert_eq!(w.record.id, member, "{}", c.name);
                format!(
                    "member {member}; seen {}..{}; identities {}; new {}",
                    w.record.first_seen.0,
                    w.record.last_seen.0,
                    render_ids(&w.record.identities),
                    render_ids(w.new_identities())
                )
            }
        };
        (c.name, actual.trim_end().to_owned(), c.expect)
    }));
}
