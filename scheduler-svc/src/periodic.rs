//! Firing periodic slots.

use shared::domain::ids::periodic_execution_id;
use shared::domain::slots;
use shared::domain::{Execution, Reason, Workflow};
use shared::repo::SlotOutcome;
use shared::telemetry::measure;
use shared::time::Timestamp;
use shared::transport::{hand_over, reserve_for};
use shared::Backends;

/// Fires every slot due at `now` (an idle workflow's up to `slots::LEAD` early), in batches
/// until none is left.
pub async fn fire_due(backends: &Backends, now: Timestamp) {
    loop {
        let due = match backends
            .workflows
            .due_periodic(now, slots::LEAD, super::BATCH)
            .await
        {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(%err, "cannot read due periodic workflows");
                return;
            }
        };
        let full_batch = due.len() == super::BATCH;
        // All at once: the store commits them together, so a crowd of slots due in the same
        // millisecond costs one commit, not one each in turn.
        let mut firing = tokio::task::JoinSet::new();
        for workflow in due {
            let backends = backends.clone();
            firing.spawn(async move { fire_one(&backends, &workflow, now).await });
        }
        while firing.join_next().await.is_some() {}
        if !full_batch {
            return;
        }
    }
}

async fn fire_one(backends: &Backends, workflow: &Workflow, now: Timestamp) {
    let (Some(due), Some(schedule)) = (workflow.next_run_at, workflow.spec.trigger.schedule())
    else {
        return;
    };
    let plan = slots::plan(due, &schedule, workflow.spec.trigger.catch_up(), now);
    if plan.missed > 0 {
        measure::slots_skipped("missed", plan.missed);
        tracing::warn!(
            workflow_id = workflow.id(),
            missed = plan.missed,
            "periodic slots missed (catch-up policy applied)"
        );
    }
    let execution = plan.fire.map(|slot| {
        let mut e = Execution::queued(
            periodic_execution_id(workflow.id(), slot),
            workflow,
            Reason::Periodic,
            slot,
            now,
        );
        // A scheduled trigger gives no input: the declared defaults are all there is (a
        // required input without one was refused when the workflow was saved).
        e.input = shared::domain::inputs::defaults(&workflow.spec.inputs);
        e
    });
    // A runner in this process takes the execution as it is recorded: claimed for it already.
    let reserved = execution
        .as_ref()
        .and_then(|_| reserve_for(&backends.transport, workflow));
    let claim_for = reserved.as_ref().map(|r| r.lease());
    match backends
        .executions
        .fire_slot(
            workflow.id(),
            due,
            plan.next_run_at,
            execution.as_ref(),
            claim_for,
        )
        .await
    {
        Ok(SlotOutcome::Fired(execution)) => {
            // Negative when taken early; the runner measures the slot's lateness as it starts.
            let lateness_ms = (now - execution.scheduled_for).num_milliseconds();
            measure::execution_accepted(Reason::Periodic);
            tracing::debug!(workflow_id = workflow.id(), execution_id = %execution.execution_id, lateness_ms, "periodic slot fired");
            hand_over(&backends.transport, reserved, &execution, workflow).await;
        }
        Ok(SlotOutcome::Buffered(execution)) => {
            measure::execution_accepted(Reason::Periodic);
            tracing::info!(workflow_id = workflow.id(), execution_id = %execution.execution_id, slot = %due, "periodic slot buffered: it runs when the current execution ends");
        }
        Ok(SlotOutcome::SkippedBusy) => {
            measure::slots_skipped("busy", 1);
            tracing::info!(workflow_id = workflow.id(), slot = %due, "periodic slot skipped: the previous execution has not ended");
        }
        Ok(SlotOutcome::Advanced | SlotOutcome::Stale) => {}
        Err(err) => {
            tracing::warn!(%err, workflow_id = workflow.id(), "cannot fire periodic slot; will retry")
        }
    }
}
