//! What a delete does, as upstream's generic registry decides it
//! (`BeforeDelete`, `updateForGracefulDeletionAndFinalizers`): graceful
//! deletion (the kind's grace period, only ever shortened by a later
//! delete), finalizers that keep an object until they are removed, the
//! propagation policy's finalizers for the garbage collector, and when an
//! update completes a deletion (`ShouldDeleteDuringUpdate`).

use serde_json::{Value, json};

use crate::machinery::meta::{FINALIZER_FOREGROUND, FINALIZER_ORPHAN, is_terminating, rfc3339};
use crate::registry::Strategy;
use crate::storage::store::Preconditions;

/// Deletion propagation for dependents (found by ownerReferences).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

/// Upstream's DeleteOptions, as the registry uses them.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Option<Propagation>,
    pub preconditions: Preconditions,
    pub grace_period_seconds: Option<i64>,
    /// `dryRun: [All]`: everything is checked, nothing is written.
    pub dry_run: bool,
    /// `orphanDependents` as given (a 202 answer needs it explicitly false).
    pub orphan_dependents: Option<bool>,
}

/// What deleting an object does now.
#[derive(Debug)]
pub(crate) enum Plan {
    /// A deletion already under way; nothing to write.
    Keep,
    /// The object stays, marked as being deleted (grace period, finalizers).
    Mark(Value),
    /// The object goes.
    Remove,
}

fn finalizers(o: &Value) -> Vec<String> {
    o["metadata"]["finalizers"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Decides what deleting `old` does with `opts`.
pub(crate) fn plan(strategy: &dyn Strategy, old: &Value, opts: &DeleteOptions) -> Plan {
    // Negative periods count as 1s on the delete path.
    let requested = opts.grace_period_seconds.map(|g| if g < 0 { 1 } else { g });
    let meta_finalizers = finalizers(old);
    if is_terminating(old) {
        return replan(strategy, old, requested, &meta_finalizers);
    }
    let mut n = old.clone();
    // What the garbage collector needs: the orphan and foreground
    // finalizers, as the registry sets them from the propagation policy
    // (orphaning itself is done at once by the pipeline).
    let propagation = opts.propagation.unwrap_or_default();
    let mut fins: Vec<String> = meta_finalizers
        .iter()
        .filter(|f| *f != FINALIZER_ORPHAN && *f != FINALIZER_FOREGROUND)
        .cloned()
        .collect();
    if propagation == Propagation::Foreground {
        fins.push(FINALIZER_FOREGROUND.to_string());
    }
    if fins != meta_finalizers {
        n["metadata"]["finalizers"] = json!(fins);
    }
    strategy.prepare_for_delete(&mut n);
    let grace = strategy.graceful_deletion(old, requested).max(0);
    if grace == 0 && fins.is_empty() && strategy.finalized(&n) {
        return Plan::Remove;
    }
    let now = jiff::Timestamp::now();
    let at = now
        .checked_add(jiff::SignedDuration::from_secs(grace))
        .unwrap_or(now);
    n["metadata"]["deletionTimestamp"] = json!(rfc3339(at));
    n["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
    if let Some(g) = n["metadata"]["generation"].as_i64().filter(|g| *g > 0) {
        n["metadata"]["generation"] = json!(g + 1);
    }
    Plan::Mark(n)
}

/// A delete of an object already being deleted: a graceful one may only
/// be shortened (0 ends it); otherwise the object goes once nothing
/// holds it.
fn replan(
    strategy: &dyn Strategy,
    old: &Value,
    requested: Option<i64>,
    meta_finalizers: &[String],
) -> Plan {
    let current = old["metadata"]["deletionGracePeriodSeconds"]
        .as_i64()
        .unwrap_or(0);
    if current > 0 {
        let Some(g) = requested.filter(|g| *g < current) else {
            return Plan::Keep;
        };
        let mut n = old.clone();
        let ts = old["metadata"]["deletionTimestamp"]
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .unwrap_or_else(jiff::Timestamp::now);
        let ts = ts
            .checked_sub(jiff::SignedDuration::from_secs(current - g))
            .unwrap_or(ts);
        n["metadata"]["deletionTimestamp"] = json!(rfc3339(ts));
        n["metadata"]["deletionGracePeriodSeconds"] = json!(g);
        if g == 0 && meta_finalizers.is_empty() && strategy.finalized(&n) {
            return Plan::Remove;
        }
        return Plan::Mark(n);
    }
    if meta_finalizers.is_empty() && strategy.finalized(old) {
        Plan::Remove
    } else {
        Plan::Keep
    }
}

/// Whether an update completes a deletion: the object is being deleted,
/// its grace period is over and nothing holds it any more.
pub(crate) fn completes_deletion(strategy: &dyn Strategy, new: &Value, old: &Value) -> bool {
    is_terminating(new)
        && finalizers(new).is_empty()
        && old["metadata"]["deletionGracePeriodSeconds"].as_i64() == Some(0)
        && strategy.finalized(new)
}
