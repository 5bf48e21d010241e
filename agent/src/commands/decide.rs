//! What to do with a command, from what the record says: pure, tested by a table of cases.

use super::store::Decision;
use xt_shared::command::CommandOutcome;
use xt_shared::ids::WarehouseCode;

/// Longest refusal reason sent, in bytes (longer ones are cut at a char boundary).
pub const REASON_BYTES_MAX: usize = 1024;

/// What the applier does with a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The seq is decided: answer the recorded outcome again, write nothing.
    Answer(CommandOutcome),
    /// Decided without a sink: record this outcome, then answer it.
    Decide(CommandOutcome),
    /// Apply it with the sink at this index.
    Apply(usize),
}

/// Decides from the seq's recorded decision, the decision that already applied the same kind
/// of command to the same delivery number (under another seq), and the sink serving the
/// command's warehouse.
pub fn plan(
    recorded: Option<&Decision>,
    applied_before: Option<&Decision>,
    sink: Option<usize>,
    warehouse: &WarehouseCode,
) -> Plan {
    if let Some(d) = recorded {
        return Plan::Answer(d.outcome.clone());
    }
    if applied_before.is_some_and(Decision::applied) {
        return Plan::Decide(CommandOutcome::AlreadyDone);
    }
    match sink {
        Some(i) => Plan::Apply(i),
        None => Plan::Decide(CommandOutcome::Refused {
            reason: format!("no sink of this agent serves warehouse {warehouse}"),
        }),
    }
}

/// `outcome` with its reason cut to [`REASON_BYTES_MAX`].
pub fn bounded(outcome: CommandOutcome) -> CommandOutcome {
    match outcome {
        CommandOutcome::Refused { mut reason } if reason.len() > REASON_BYTES_MAX => {
            let mut end = REASON_BYTES_MAX;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
            CommandOutcome::Refused { reason }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xt_shared::ids::DocNo;

    fn decision(outcome: CommandOutcome) -> Decision {
        Decision {
            kind: "create_delivery".into(),
            delivery_no: DocNo::new("D-1").unwrap(),
            sink: Some("wms".into()),
            outcome,
        }
    }

    fn refused(reason: &str) -> CommandOutcome {
        CommandOutcome::Refused {
            reason: reason.into(),
        }
    }

    #[test]
    fn plans() {
        use CommandOutcome::{AlreadyDone, Done};
        let wh = WarehouseCode::new("WH-9").unwrap();
        /// Name, the seq's record, the delivery's earlier decision, the serving sink, the plan.
        type Case = (
            &'static str,
            Option<Decision>,
            Option<Decision>,
            Option<usize>,
            Plan,
        );
        let cases: Vec<Case> = vec![
            (
                "new command, sink found",
                None,
                None,
                Some(1),
                Plan::Apply(1),
            ),
            (
                "new command, no sink serves the warehouse",
                None,
                None,
                None,
                Plan::Decide(refused("no sink of this agent serves warehouse WH-9")),
            ),
            (
                "resent seq answers its record",
                Some(decision(Done)),
                None,
                Some(0),
                Plan::Answer(Done),
            ),
            (
                "resent refused seq answers its refusal",
                Some(decision(refused("shipped"))),
                None,
                Some(0),
                Plan::Answer(refused("shipped")),
            ),
            (
                "the record wins over a missing sink",
                Some(decision(AlreadyDone)),
                None,
                None,
                Plan::Answer(AlreadyDone),
            ),
            (
                "same delivery applied under another seq",
                None,
                Some(decision(Done)),
                Some(0),
                Plan::Decide(AlreadyDone),
            ),
            (
                "same delivery found done under another seq",
                None,
                Some(decision(AlreadyDone)),
                None,
                Plan::Decide(AlreadyDone),
            ),
            (
                "same delivery refused before is tried again",
                None,
                Some(decision(refused("locked table"))),
                Some(0),
                Plan::Apply(0),
            ),
        ];
        for (name, recorded, before, sink, expected) in cases {
            assert_eq!(
                plan(recorded.as_ref(), before.as_ref(), sink, &wh),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn long_reasons_are_cut_at_a_char_boundary() {
        let long = "锁".repeat(REASON_BYTES_MAX);
        let CommandOutcome::Refused { reason } = bounded(refused(&long)) else {
            panic!("still refused");
        };
        assert!(reason.len() <= REASON_BYTES_MAX && reason.len() > REASON_BYTES_MAX - 3);
        assert_eq!(bounded(CommandOutcome::Done), CommandOutcome::Done);
    }
}
