//! How fulfilment moves, through the ingest pipeline ([`crate::ingest`]):
//! - [`Tail`]: the room reads its tenant's change log from its cursor — captured orders and
//!   refunds, warehouse stock, movements and shipments, agents' answers to commands — and
//!   reacts; the cursor moves in the same transaction as the reactions, so each entry is acted
//!   on exactly once, whatever crashes. It also releases the merge groups that are due and
//!   tries out-of-stock orders again when stock moved.
//! - [`Act`]: a person approves, holds, releases, cancels or re-routes an order.
//! - [`Confirm`]: a package confirmed by phone staff or a 3PL's callback.
//! - [`TplAnswered`]: a 3PL answered a create or a cancel.

use super::decide::{Assignment, says_out_of_stock};
use super::ledger::MovementKind;
use super::machine::{Event, Exception, State};
use super::records::{Actor, FulfilmentRecord};
use super::store::{
    self as fs, CURSORS, Confirmed, Ctx, DELIVERIES, FULFILMENTS, MERGE_BUFFER, MERGE_DUE,
    order_view,
};
use crate::events::log::TENANT_LOG;
use crate::ingest::{Applied, Intake};
use crate::orders::store::ORDERS;
use crate::store::table::WriteTx;
use crate::store::{LogEntry, StoreError, StoredOutcome};
use xt_shared::change::Body;
use xt_shared::ids::TenantId;
use xt_shared::model::UtcMillis;
use xt_shared::order::RefundState;

/// Log entries one [`Tail`] step acts on at most (a captured page is one entry).
pub const TAIL_ENTRIES_MAX: usize = 64;
/// Log entries one [`Tail`] step reads at most, counting the room's own transitions, which it
/// passes over (an order makes several; reading them in the same step keeps steps few).
pub const TAIL_READ_MAX: usize = 4096;

/// What a step did, for the worker: which other workers to wake.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Worked {
    pub entries: usize,
    /// The step stopped at [`TAIL_ENTRIES_MAX`] or [`TAIL_READ_MAX`]: more may be waiting.
    pub more: bool,
    pub released: usize,
    pub commands: bool,
    pub tpl: bool,
    pub writebacks: bool,
}

/// Fulfilment reading its tenant's change log from its cursor.
#[derive(Clone)]
pub struct Tail<'a> {
    pub tenant: &'a TenantId,
}

pub struct TailAdmitted<'a> {
    tenant: &'a TenantId,
    entries: Vec<(u64, LogEntry)>,
    /// The position of the last entry read (acted on or passed over).
    through: Option<u64>,
    more: bool,
}

fn due_exists(tx: &WriteTx, tenant: &str, now: UtcMillis) -> Result<bool, StoreError> {
    Ok(tx
        .open(MERGE_DUE)?
        .keys((tenant, i64::MIN, "")..=(tenant, now.0, "\u{10ffff}"))?
        .next()
        .is_some())
}

impl<'a> Intake for Tail<'a> {
    type Admitted = TailAdmitted<'a>;
    type Outcome = Worked;

    /// New log entries after the cursor (our own transitions are skipped when read), or merge
    /// groups due; otherwise nothing to do and nothing written.
    fn admit(self, tx: &WriteTx) -> Result<Result<TailAdmitted<'a>, Worked>, StoreError> {
        let t = self.tenant.as_str();
        let cursor = tx.open(CURSORS)?.get(t)?.unwrap_or(0);
        let mut entries = Vec::new();
        let (mut read, mut through, mut more) = (0, None, false);
        for row in tx
            .open(TENANT_LOG)?
            .range((t, cursor + 1)..=(t, u64::MAX))?
        {
            if entries.len() >= TAIL_ENTRIES_MAX || read >= TAIL_READ_MAX {
                more = true;
                break;
            }
            let row = row?;
            read += 1;
            through = Some(row.key().1);
            // Our own transitions: nothing to act on.
            if !matches!(row.value, LogEntry::Fulfilment(_)) {
                entries.push((row.key().1, row.value));
            }
        }
        let now = crate::hub::now_ms();
        if through.is_none() && !due_exists(tx, t, now)? {
            return Ok(Err(Worked::default()));
        }
        Ok(Ok(TailAdmitted {
            tenant: self.tenant,
            entries,
            through,
            more,
        }))
    }

    fn apply(
        admitted: TailAdmitted<'a>,
        tx: &WriteTx,
        now: UtcMillis,
    ) -> Result<Applied<Worked>, StoreError> {
        let TailAdmitted {
            tenant,
            entries,
            through,
            more,
        } = admitted;
        let mut ctx = Ctx::load(tx, tenant, now)?;
        let mut worked = Worked {
            entries: entries.len(),
            more,
            ..Worked::default()
        };
        let mut stock_moved = false;
        for (_position, entry) in entries {
            match entry {
                LogEntry::Batch(batch) => {
                    let (_origin, changes) = batch.into_model()?;
                    for change in changes {
                        match change.body {
                            Body::PlatformOrder { shop, order } => {
                                fs::order_changed(
                                    &mut ctx,
                                    shop.as_str(),
                                    order.platform_order_no.as_str(),
                                )?;
                            }
                            Body::PlatformRefund { shop, refund } => {
                                // A refund of the whole order asked for before shipping is a
                                // cancel: the parcel must not leave.
                                let whole = refund.line_id.is_none();
                                let asked = matches!(
                                    refund.state,
                                    RefundState::Requested | RefundState::Refunded
                                );
                                if whole && asked {
                                    refund_requested(
                                        &mut ctx,
                                        shop.as_str(),
                                        refund.platform_order_no.as_str(),
                                    )?;
                                }
                            }
                            Body::Stock(level) => {
                                stock_moved |= fs::stock_snapshot(
                                    &mut ctx,
                                    level.warehouse.as_str(),
                                    level.sku.as_str(),
                                    level.on_hand,
                                    change.version,
                                )?;
                            }
                            Body::StockMovement(m) => {
                                fs::stock_movement(
                                    &mut ctx,
                                    m.warehouse.as_str(),
                                    m.sku.as_str(),
                                    m.movement_no.as_str(),
                                    m.delta,
                                    MovementKind::from(m.kind),
                                    m.occurred_at.0,
                                )?;
                                stock_moved = true;
                            }
                            Body::Shipment(s) => {
                                let warehouse = s.warehouse.to_string();
                                // A WMS table reports a package one line per row: the key
                                // names the package and its lines, so each line applies once.
                                let key = s
                                    .lines
                                    .iter()
                                    .fold(format!("wms:{}", s.tracking_no), |key, l| {
                                        format!("{key}:{}", l.sku)
                                    });
                                fs::shipped(
                                    &mut ctx,
                                    Confirmed {
                                        key,
                                        delivery_no: s.delivery_no.to_string(),
                                        carrier: s.carrier,
                                        tracking_no: s.tracking_no,
                                        lines: s
                                            .lines
                                            .into_iter()
                                            .map(|l| (l.sku.to_string(), l.quantity))
                                            .collect(),
                                        shipped_at: s.shipped_at,
                                        last: false,
                                    },
                                    Actor::Warehouse(warehouse),
                                )?;
                            }
                            _ => {}
                        }
                    }
                }
                LogEntry::Command(c) => {
                    let cancel = c.kind == "cancel_delivery";
                    let refused = match c.outcome {
                        StoredOutcome::Done | StoredOutcome::AlreadyDone => None,
                        StoredOutcome::Refused { reason } => Some(reason),
                    };
                    let short = refused.as_deref().is_some_and(says_out_of_stock);
                    fs::delivery_answered(&mut ctx, &c.delivery_no, cancel, refused, short)?;
                }
                LogEntry::Agent(_) | LogEntry::CaptureError(_) | LogEntry::Fulfilment(_) => {}
            }
        }
        if stock_moved {
            fs::retry_out_of_stock(&mut ctx)?;
        }
        worked.released = fs::release_due(&mut ctx)?;
        if let Some(position) = through {
            tx.open(CURSORS)?.insert(tenant.as_str(), &position)?;
        }
        let effects = ctx.finish()?;
        worked.commands = effects.commands;
        worked.tpl = effects.tpl;
        worked.writebacks = effects.writebacks;
        Ok(Applied {
            log: effects.log,
            outcome: worked,
        })
    }
}

/// A whole-order refund asked for: cancels the order if it has not shipped.
fn refund_requested(ctx: &mut Ctx<'_>, shop: &str, order_no: &str) -> Result<(), StoreError> {
    let key = (ctx.tenant.as_str(), shop, order_no);
    let Some(mut f) = ctx.tx.open(FULFILMENTS)?.get(key)? else {
        return Ok(());
    };
    let old = f.state;
    fs::cancel_order(
        ctx,
        shop,
        order_no,
        &mut f,
        Actor::Platform,
        "refund requested before shipping",
    )?;
    fs::save(ctx, shop, order_no, Some(old), &f)
}

/// What a person does to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Approve,
    Hold {
        reason: String,
    },
    Release,
    Cancel {
        reason: String,
    },
    Reroute {
        warehouse: String,
    },
    /// Split by hand: each warehouse ships what it is assigned.
    Split {
        parts: Vec<Assignment>,
    },
}

/// Whether a person may give `f` a new plan (re-route or split): not once it is at a
/// warehouse, except when the warehouse refused it.
fn replannable(f: &FulfilmentRecord) -> Result<(), &'static str> {
    let open = matches!(
        f.state,
        State::Held
            | State::Allocated
            | State::Exception(Exception::WarehouseRefused | Exception::OutOfStock)
    );
    let made = f.state == State::Allocated && f.plan.iter().any(|p| p.delivery_no.is_some());
    if open && !made {
        Ok(())
    } else {
        Err(
            "only an order not yet sent to a warehouse, or one a warehouse refused, can be re-routed or split",
        )
    }
}

/// Why an action does not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActError {
    NotFound,
    NotAllowed(String),
}

/// A person's action on one order.
#[derive(Clone)]
pub struct Act<'a> {
    pub tenant: &'a TenantId,
    pub shop: &'a str,
    pub order_no: &'a str,
    pub action: Action,
    pub by: String,
}

impl<'a> Intake for Act<'a> {
    type Admitted = Act<'a>;
    type Outcome = Result<Worked, ActError>;

    fn admit(self, tx: &WriteTx) -> Result<Result<Act<'a>, Self::Outcome>, StoreError> {
        let key = (self.tenant.as_str(), self.shop, self.order_no);
        if tx.open(FULFILMENTS)?.contains(key)? {
            Ok(Ok(self))
        } else {
            Ok(Err(Err(ActError::NotFound)))
        }
    }

    fn apply(
        act: Act<'a>,
        tx: &WriteTx,
        now: UtcMillis,
    ) -> Result<Applied<Self::Outcome>, StoreError> {
        let mut ctx = Ctx::load(tx, act.tenant, now)?;
        let (shop, no) = (act.shop, act.order_no);
        let key = (act.tenant.as_str(), shop, no);
        let mut f = tx
            .open(FULFILMENTS)?
            .get(key)?
            .ok_or(StoreError::Conflict("fulfilment vanished".into()))?;
        let Some(order) = tx.open(ORDERS)?.get(key)? else {
            return Ok(Applied {
                log: Vec::new(),
                outcome: Err(ActError::NotFound),
            });
        };
        let old = f.state;
        let actor = Actor::User(act.by.clone());
        let refuse = |why: &str| -> Result<Applied<Self::Outcome>, StoreError> {
            Ok(Applied {
                log: Vec::new(),
                outcome: Err(ActError::NotAllowed(why.to_owned())),
            })
        };
        match act.action {
            Action::Approve => {
                if !matches!(
                    f.state,
                    State::Held | State::Review | State::Exception(Exception::AddressIncomplete)
                ) {
                    return refuse("only a held order or one in review can be approved");
                }
                f.approved = true;
                f.held_by_person = None;
                let view = order_view(shop, &order);
                if f.state != State::Review {
                    let event = if f.state == State::Held {
                        Event::Release
                    } else {
                        Event::Review
                    };
                    ctx.transition(shop, no, &mut f, event, actor.clone(), "approved");
                }
                fs::review_and_reserve(&mut ctx, shop, no, &mut f, &view)?;
            }
            Action::Hold { reason } => {
                if !matches!(f.state, State::Review | State::Allocated | State::Held) {
                    return refuse("only an order not yet at a warehouse can be held");
                }
                if f.state == State::Allocated {
                    let merge = f.merge_key.clone().unwrap_or(format!("~{shop}:{no}"));
                    tx.open(MERGE_BUFFER)?.remove((
                        act.tenant.as_str(),
                        merge.as_str(),
                        shop,
                        no,
                    ))?;
                    if f.plan.iter().any(|p| p.delivery_no.is_some()) {
                        return refuse("its delivery order is already made");
                    }
                    // Allocated → held goes through review.
                    f.step(State::Review, actor.clone(), "held by hand", now);
                }
                f.held_by_person = Some(reason.clone());
                f.approved = false;
                ctx.transition(shop, no, &mut f, Event::Hold, actor, reason);
            }
            Action::Release => {
                if f.state != State::Held {
                    return refuse("only a held order can be released");
                }
                f.held_by_person = None;
                f.approved = true;
                ctx.transition(shop, no, &mut f, Event::Release, actor, "released");
                let view = order_view(shop, &order);
                fs::review_and_reserve(&mut ctx, shop, no, &mut f, &view)?;
            }
            Action::Cancel { reason } => {
                if f.state.is_final() {
                    return refuse("the order is already cancelled or completed");
                }
                fs::cancel_order(&mut ctx, shop, no, &mut f, actor, &reason)?;
            }
            Action::Reroute { warehouse } => {
                if let Err(why) = replannable(&f) {
                    return refuse(why);
                }
                if ctx.warehouses.iter().all(|(c, _)| c != &warehouse) {
                    return refuse("no such warehouse");
                }
                if let Err(why) = fs::reroute(&mut ctx, shop, no, &mut f, &warehouse, actor)? {
                    return refuse(&format!("that warehouse does not hold the stock: {why}"));
                }
            }
            Action::Split { parts } => {
                if let Err(why) = replannable(&f) {
                    return refuse(why);
                }
                if let Err(why) = fs::split(&mut ctx, shop, no, &mut f, &parts, &act.by)? {
                    return refuse(&why);
                }
            }
        }
        fs::save(&ctx, shop, no, Some(old), &f)?;
        let effects = ctx.finish()?;
        let worked = Worked {
            commands: effects.commands,
            tpl: effects.tpl,
            ..Worked::default()
        };
        Ok(Applied {
            log: effects.log,
            outcome: Ok(worked),
        })
    }
}

/// A package confirmed by phone staff or a 3PL.
#[derive(Clone)]
pub struct Confirm<'a> {
    pub tenant: &'a TenantId,
    pub confirmed: Confirmed,
    pub actor: Actor,
}

/// What became of a confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmOutcome {
    Applied,
    /// The same confirmation (key) was applied before.
    Duplicate,
    /// No such delivery order.
    Unknown,
}

impl<'a> Intake for Confirm<'a> {
    type Admitted = Confirm<'a>;
    type Outcome = ConfirmOutcome;

    fn admit(self, tx: &WriteTx) -> Result<Result<Confirm<'a>, ConfirmOutcome>, StoreError> {
        let t = self.tenant.as_str();
        if !tx
            .open(DELIVERIES)?
            .contains((t, self.confirmed.delivery_no.as_str()))?
        {
            return Ok(Err(ConfirmOutcome::Unknown));
        }
        let key = format!("{}/{}", self.confirmed.delivery_no, self.confirmed.key);
        if tx.open(fs::SHIPMENT_KEYS)?.contains((t, key.as_str()))? {
            return Ok(Err(ConfirmOutcome::Duplicate));
        }
        Ok(Ok(self))
    }

    fn apply(
        c: Confirm<'a>,
        tx: &WriteTx,
        now: UtcMillis,
    ) -> Result<Applied<ConfirmOutcome>, StoreError> {
        let mut ctx = Ctx::load(tx, c.tenant, now)?;
        let applied = fs::shipped(&mut ctx, c.confirmed, c.actor)?;
        Ok(Applied {
            log: ctx.finish()?.log,
            outcome: if applied {
                ConfirmOutcome::Applied
            } else {
                ConfirmOutcome::Duplicate
            },
        })
    }
}

/// A 3PL answered a delivery order's create (`cancel: false`) or cancel.
#[derive(Clone)]
pub struct TplAnswered<'a> {
    pub tenant: &'a TenantId,
    pub warehouse: &'a str,
    pub delivery_no: &'a str,
    pub cancel: bool,
    pub refused: Option<String>,
}

impl<'a> Intake for TplAnswered<'a> {
    type Admitted = TplAnswered<'a>;
    type Outcome = ();

    fn admit(self, tx: &WriteTx) -> Result<Result<TplAnswered<'a>, ()>, StoreError> {
        let key = (self.tenant.as_str(), self.warehouse, self.delivery_no);
        Ok(if tx.open(fs::TPL_OUTBOX)?.contains(key)? {
            Ok(self)
        } else {
            Err(())
        })
    }

    fn apply(a: TplAnswered<'a>, tx: &WriteTx, now: UtcMillis) -> Result<Applied<()>, StoreError> {
        tx.open(fs::TPL_OUTBOX)?
            .remove((a.tenant.as_str(), a.warehouse, a.delivery_no))?;
        let mut ctx = Ctx::load(tx, a.tenant, now)?;
        let short = a.refused.as_deref().is_some_and(says_out_of_stock);
        fs::delivery_answered(&mut ctx, a.delivery_no, a.cancel, a.refused, short)?;
        Ok(Applied {
            log: ctx.finish()?.log,
            outcome: (),
        })
    }
}
