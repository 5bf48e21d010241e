//! The refresh-token decision, case by case: each case is the stored state and `now`, and the
//! decision it must give, written as the text [`render`] makes of it. Through the store, the
//! same paths are tested in `hub/tests/auth.rs`.

use super::*;
use xt_shared::ids::TenantId;

const NOW: i64 = 1_000;
const GRACE_MS: i64 = 30;
/// Hashes are shown by their first byte; the fresh successor's is 9.
const FRESH: [u8; 32] = [9; 32];

fn token(expires_at: i64, rotated_at: Option<i64>, successor: Option<u8>) -> RefreshRecord {
    RefreshRecord {
        family: "f-1".into(),
        tenant: TenantId::new("acme").unwrap(),
        username: "ana".into(),
        user_id: "u-1".into(),
        issued_at: UtcMillis(100),
        expires_at: UtcMillis(expires_at),
        rotated_at: rotated_at.map(UtcMillis),
        successor: successor.map(|b| vec![b; 32]),
    }
}

/// A fresh token, never used.
fn fresh() -> RefreshRecord {
    token(5_000, None, None)
}

/// A token first used at `at`, traded then for the successor hashed 1.
fn used_at(at: i64) -> RefreshRecord {
    token(5_000, Some(at), Some(1))
}

/// The successor handed out before (at 980); used at `rotated_at`, if it was.
fn handed_out(rotated_at: Option<i64>) -> RefreshRecord {
    RefreshRecord {
        issued_at: UtcMillis(980),
        ..token(5_000, rotated_at, rotated_at.map(|_| 2))
    }
}

fn family(revoked_at: Option<i64>) -> FamilyRecord {
    FamilyRecord {
        tenant: TenantId::new("acme").unwrap(),
        created_at: UtcMillis(100),
        revoked_at: revoked_at.map(UtcMillis),
    }
}

fn hash(h: &Option<Vec<u8>>) -> String {
    h.as_ref()
        .and_then(|h| h.first())
        .map_or("-".into(), |b| b.to_string())
}

fn used(r: &RefreshRecord) -> String {
    match r.rotated_at {
        Some(at) => format!("used @{} -> {}", at.0, hash(&r.successor)),
        None => "unused".into(),
    }
}

fn render(decision: RefreshDecision) -> String {
    match decision {
        RefreshDecision::Refused => "refused".into(),
        RefreshDecision::Revoke(id, f) => {
            format!("revoke {id} @{}", f.revoked_at.map_or(-1, |at| at.0))
        }
        RefreshDecision::Rotate(r) => {
            let superseded = match &r.superseded {
                Some((h, s)) => format!("; superseded {} {}", h[0], used(s)),
                None => String::new(),
            };
            format!(
                "rotate: presented {}{superseded}; next issued @{} expires @{} {} of {}",
                used(&r.presented),
                r.next.issued_at.0,
                r.next.expires_at.0,
                used(&r.next),
                r.next.family,
            )
        }
    }
}

struct Case {
    name: &'static str,
    token: Option<RefreshRecord>,
    family: Option<FamilyRecord>,
    handed_out: Option<RefreshRecord>,
    want: &'static str,
}

fn case(
    name: &'static str,
    token: Option<RefreshRecord>,
    family: Option<FamilyRecord>,
    handed: Option<RefreshRecord>,
    want: &'static str,
) -> Case {
    Case {
        name,
        token,
        family,
        handed_out: handed,
        want,
    }
}

#[test]
fn presenting_a_refresh_token() {
    let live = Some(family(None));
    let rotated =
        "rotate: presented used @1000 -> 9; next issued @1000 expires @9000 unused of f-1";
    let cases = [
        case(
            "an unknown token is refused",
            None,
            live.clone(),
            None,
            "refused",
        ),
        case(
            "a token whose family is missing is refused",
            Some(fresh()),
            None,
            None,
            "refused",
        ),
        case(
            "a token of a revoked family is refused",
            Some(fresh()),
            Some(family(Some(500))),
            None,
            "refused",
        ),
        case(
            "a token expiring now is refused",
            Some(token(NOW, None, None)),
            live.clone(),
            None,
            "refused",
        ),
        case(
            "an expired token used before is refused, not a replay",
            Some(token(NOW - 1, Some(10), Some(1))),
            live.clone(),
            None,
            "refused",
        ),
        case(
            "a fresh token rotates",
            Some(fresh()),
            live.clone(),
            None,
            rotated,
        ),
        case(
            "a retry within grace gets a fresh successor; the one before is superseded",
            Some(used_at(980)),
            live.clone(),
            Some(handed_out(None)),
            "rotate: presented used @980 -> 9; superseded 1 used @1000 -> 9; \
             next issued @1000 expires @9000 unused of f-1",
        ),
        case(
            "a retry at the end of grace is still a retry",
            Some(used_at(NOW - GRACE_MS)),
            live.clone(),
            Some(handed_out(None)),
            "rotate: presented used @970 -> 9; superseded 1 used @1000 -> 9; \
             next issued @1000 expires @9000 unused of f-1",
        ),
        case(
            "reuse after grace revokes the family",
            Some(used_at(NOW - GRACE_MS - 1)),
            live.clone(),
            Some(handed_out(None)),
            "revoke f-1 @1000",
        ),
        case(
            "a retry whose successor was used since revokes the family",
            Some(used_at(990)),
            live.clone(),
            Some(handed_out(Some(995))),
            "revoke f-1 @1000",
        ),
        case(
            "a retry whose successor is gone revokes the family",
            Some(used_at(990)),
            live.clone(),
            None,
            "revoke f-1 @1000",
        ),
        case(
            "a used token naming no successor revokes the family",
            Some(token(5_000, Some(990), None)),
            live.clone(),
            None,
            "revoke f-1 @1000",
        ),
    ];
    let presenting = Presenting {
        now: UtcMillis(NOW),
        grace_ms: GRACE_MS,
        successor: &FRESH,
        expires_at: UtcMillis(9_000),
    };
    for c in cases {
        let state = RefreshState {
            token: c.token.as_ref(),
            family: c.family.as_ref(),
            handed_out: c.handed_out.as_ref(),
        };
        assert_eq!(render(use_refresh(state, presenting)), c.want, "{}", c.name);
    }
}
