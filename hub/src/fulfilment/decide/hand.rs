//! Splitting by hand: a person says which warehouse ships how much of which SKU; this checks the
//! assignment against the order and makes it parts like routing's.
//!
//! *Invariant:* an accepted assignment ships every line's quantity exactly, only from known,
//! enabled warehouses, each at most once; a refused one lists every problem, not just the first.
//! Stock and coverage are not asked (the person decides; reserving the stock may still fail).

use super::explain::{Explanation, Matched};
use super::route::{Line, Part, Warehouse};
use serde::{Deserialize, Serialize};

/// What a person assigned to one warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    pub warehouse: String,
    pub lines: Vec<Line>,
}

/// Why a hand split is refused: every problem found, in the order of the assignment, then of the
/// order's lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitError {
    pub problems: Vec<SplitProblem>,
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("split refused: ")?;
        for (n, p) in self.problems.iter().enumerate() {
            if n > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SplitError {}

/// One problem of a hand split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum SplitProblem {
    #[error("the order has no line")]
    NoLines,
    #[error("order line {sku:?} has quantity {quantity}")]
    BadLine { sku: String, quantity: i64 },
    #[error("warehouse {warehouse} is not configured")]
    UnknownWarehouse { warehouse: String },
    #[error("warehouse {warehouse} is disabled")]
    Disabled { warehouse: String },
    #[error("warehouse {warehouse} is assigned twice")]
    DuplicateWarehouse { warehouse: String },
    #[error("warehouse {warehouse} is assigned nothing")]
    EmptyPart { warehouse: String },
    #[error("warehouse {warehouse} is assigned {quantity} of {sku} (must be positive)")]
    BadQuantity {
        warehouse: String,
        sku: String,
        quantity: i64,
    },
    #[error("warehouse {warehouse} is assigned {sku}, which the order does not have")]
    NotInOrder { warehouse: String, sku: String },
    #[error("{sku}: {assigned} of {wanted} assigned")]
    Unassigned {
        sku: String,
        wanted: i64,
        assigned: i64,
    },
    #[error("{sku}: {assigned} assigned, the order has {wanted}")]
    Overassigned {
        sku: String,
        wanted: i64,
        assigned: i64,
    },
}

/// Checks a hand split of `lines` (one SKU on several lines counts as one line) and makes its
/// parts, in the assignment's order, each part's lines in the order's line order.
pub fn split_by_hand(
    lines: &[Line],
    assignment: &[Assignment],
    warehouses: &[Warehouse],
) -> Result<Vec<Part>, SplitError> {
    let mut problems = Vec::new();
    let mut wanted: Vec<Line> = Vec::new();
    if lines.is_empty() {
        problems.push(SplitProblem::NoLines);
    }
    for l in lines {
        if l.sku.trim().is_empty() || l.quantity <= 0 {
            problems.push(SplitProblem::BadLine {
                sku: l.sku.clone(),
                quantity: l.quantity,
            });
            continue;
        }
        match wanted.iter_mut().find(|w| w.sku == l.sku) {
            Some(w) => w.quantity = w.quantity.saturating_add(l.quantity),
            None => wanted.push(l.clone()),
        }
    }
    let mut assigned = vec![0i64; wanted.len()];
    // Per part: its warehouse and its quantity per wanted line.
    let mut parts: Vec<(&Warehouse, Vec<i64>)> = Vec::new();
    for (n, a) in assignment.iter().enumerate() {
        let warehouse = || a.warehouse.clone();
        let w = warehouses.iter().find(|w| w.code == a.warehouse);
        match w {
            None => problems.push(SplitProblem::UnknownWarehouse {
                warehouse: warehouse(),
            }),
            Some(w) if !w.enabled => problems.push(SplitProblem::Disabled {
                warehouse: warehouse(),
            }),
            Some(_) => {}
        }
        if assignment[..n].iter().any(|b| b.warehouse == a.warehouse) {
            problems.push(SplitProblem::DuplicateWarehouse {
                warehouse: warehouse(),
            });
        }
        if a.lines.is_empty() {
            problems.push(SplitProblem::EmptyPart {
                warehouse: warehouse(),
            });
        }
        let mut take = vec![0i64; wanted.len()];
        for l in &a.lines {
            if l.quantity <= 0 {
                problems.push(SplitProblem::BadQuantity {
                    warehouse: warehouse(),
                    sku: l.sku.clone(),
                    quantity: l.quantity,
                });
                continue;
            }
            match wanted.iter().position(|w| w.sku == l.sku) {
                Some(i) => {
                    take[i] = take[i].saturating_add(l.quantity);
                    assigned[i] = assigned[i].saturating_add(l.quantity);
                }
                None => problems.push(SplitProblem::NotInOrder {
                    warehouse: warehouse(),
                    sku: l.sku.clone(),
                }),
            }
        }
        if let Some(w) = w {
            parts.push((w, take));
        }
    }
    for (l, &got) in wanted.iter().zip(&assigned) {
        let (sku, wanted) = (l.sku.clone(), l.quantity);
        if got < wanted {
            problems.push(SplitProblem::Unassigned {
                sku,
                wanted,
                assigned: got,
            });
        } else if got > wanted {
            problems.push(SplitProblem::Overassigned {
                sku,
                wanted,
                assigned: got,
            });
        }
    }
    if !problems.is_empty() {
        return Err(SplitError { problems });
    }
    let in_parts = |i: usize| parts.iter().filter(|(_, t)| t[i] > 0).count();
    let lines_total = wanted.len() as u32;
    Ok(parts
        .iter()
        .map(|(w, take)| {
            let held: Vec<usize> = (0..wanted.len()).filter(|&i| take[i] > 0).collect();
            Part {
                warehouse: w.code.clone(),
                lines: held
                    .iter()
                    .map(|&i| Line {
                        sku: wanted[i].sku.clone(),
                        quantity: take[i],
                    })
                    .collect(),
                why: Explanation {
                    warehouse: w.code.clone(),
                    matched: Matched::NotAsked,
                    designated: Vec::new(),
                    by_hand: true,
                    lines_held: held.len() as u32,
                    lines_total,
                    split_skus: held
                        .iter()
                        .filter(|&&i| in_parts(i) > 1)
                        .map(|&i| wanted[i].sku.clone())
                        .collect(),
                    priority: w.priority,
                    cost_minor: w.cost_minor,
                    rejected: Vec::new(),
                },
            }
        })
        .collect())
}
