//! Handling one execution request end to end.

use crate::attempt::{self, AttemptOutcome};
use crate::dag::Tools;
use crate::lease::{lease_for, Renewal};
use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use shared::domain::{
    slots, Execution, ExecutionRequest, ExecutionStatus, Lease, Overlap, Reason, ServiceSpec,
    Workflow,
};
use shared::egress::EgressPolicy;
use shared::repo::{Claimed, RepoError};
use shared::telemetry::measure;
use shared::time;
use shared::transport::RequestHandler;
use shared::{Backends, Config};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct Runner {
    backends: Backends,
    http: reqwest::Client,
    egress: Arc<EgressPolicy>,
    secrets: shared::secrets::Secrets,
    /// This process's name in leases.
    owner: String,
    lease_duration: Duration,
    /// Outputs over this many bytes are not recorded (`STEP_OUTPUT_LIMIT`).
    step_output_limit: usize,
    /// Cancelled when the shutdown grace is over: running attempts stop and are released.
    release: CancellationToken,
}

impl Runner {
    pub fn new(backends: Backends, config: &Config) -> anyhow::Result<Self> {
        let egress = Arc::new(config.egress.clone());
        Ok(Self {
            backends,
            http: crate::actions::http_client(egress.clone())?,
            egress,
            secrets: config.secrets.clone(),
            owner: config.instance_id.clone(),
            lease_duration: config.lease_duration,
            step_output_limit: config.step_output_limit,
            release: CancellationToken::new(),
        })
    }

    pub fn release_token(&self) -> CancellationToken {
        self.release.clone()
    }

    /// The services the workflow's steps call, as registered now; one no longer registered
    /// is left out (its step fails saying so).
    async fn services_of(
        &self,
        workflow: &Workflow,
    ) -> Result<BTreeMap<String, ServiceSpec>, RepoError> {
        let mut services = BTreeMap::new();
        for name in workflow.spec.services() {
            if let Some(service) = self.backends.services.get(name).await? {
                services.insert(name.to_string(), service.spec);
            }
        }
        Ok(services)
    }

    /// The execution's worker tasks, read once for the attempt (none when no step calls a
    /// worker service). A store that cannot give them costs a round trip per task instead.
    async fn tasks_of(
        &self,
        execution: &Execution,
        services: &BTreeMap<String, ServiceSpec>,
    ) -> BTreeMap<uuid::Uuid, shared::domain::task::Task> {
        if !services.values().any(|s| s.queue.is_some()) {
            return BTreeMap::new();
        }
        match self
            .backends
            .tasks
            .of_execution(execution.execution_id)
            .await
        {
            Ok(tasks) => tasks.into_iter().map(|(t, _)| (t.task_id, t)).collect(),
            Err(err) => {
                tracing::warn!(%err, execution_id = %execution.execution_id, "cannot read the execution's tasks; asking one by one");
                BTreeMap::new()
            }
        }
    }

    /// `workflow` is `None` when it was deleted after the execution was queued.
    async fn run_claimed(
        &self,
        mut execution: Execution,
        workflow: Option<Workflow>,
        services: BTreeMap<String, ServiceSpec>,
    ) {
        let id = execution.execution_id;
        let executions = self.backends.executions.clone();
        let Some(workflow) = workflow else {
            return self.cancel_orphan(execution).await;
        };
        // An edit between attempts keeps the progress unless it changed the steps themselves;
        // then "resume where it failed" has no meaning and the run starts over.
        if !execution.matches(&workflow) {
            // The old steps' tasks belong to steps that are gone.
            shared::workers::cancel_open(&self.backends, id).await;
            attempt::restart_on(&mut execution, &workflow);
        }
        execution.workflow_version = workflow.version;
        execution.max_attempts = workflow.spec.max_attempts();
        let lost = CancellationToken::new();
        let _renewal = Renewal::start(
            executions.clone(),
            id,
            self.owner.clone(),
            self.lease_duration,
            lost.clone(),
        );
        let tasks = self.tasks_of(&execution, &services).await;
        let tools = Tools {
            http: &self.http,
            egress: &self.egress,
            secrets: &self.secrets,
            executions: executions.as_ref(),
            output_limit: self.step_output_limit,
            services: &services,
            backends: &self.backends,
            tasks: &tasks,
        };
        let outcome = tokio::select! {
            outcome = attempt::run(&mut execution, &workflow, &tools) => outcome,
            _ = lost.cancelled() => {
                tracing::warn!(execution_id = %id, "lease lost to another runner; abandoning this attempt");
                AttemptOutcome::LeaseLost
            }
            _ = self.release.cancelled() => {
                tracing::warn!(execution_id = %id, "shutdown grace over; releasing the execution to another runner");
                let _ = executions.release(id, &self.owner, time::now()).await;
                return;
            }
        };
        self.record(execution, &workflow, outcome).await;
    }

    async fn record(&self, mut execution: Execution, workflow: &Workflow, outcome: AttemptOutcome) {
        if matches!(outcome, AttemptOutcome::LeaseLost) {
            return;
        }
        attempt::conclude(&mut execution, workflow, &outcome, time::now());
        // A store hiccup here would otherwise cost a repeated action (the lease would lapse and
        // the attempt run again), so retry while the lease (still renewed) holds.
        let finish = || self.backends.executions.finish(&execution, &self.owner);
        let retrying = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(50))
            .with_max_delay(Duration::from_secs(2))
            .with_max_times(8);
        match finish
            .retry(retrying)
            .when(|err| matches!(err, RepoError::Unavailable(_)))
            .notify(|err, delay| tracing::warn!(%err, ?delay, "cannot record the outcome yet; retrying"))
            .await
        {
            Ok(true) => {
                measure::attempt_ended(execution.status, execution.reason);
                self.after_tasks(&execution, workflow, &outcome).await;
                tracing::debug!(execution_id = %execution.execution_id, status = execution.status.as_str(), "attempt recorded");
                if execution.status == ExecutionStatus::Retrying {
                    self.backends.wakeups.schedule.notify_one();
                }
                if execution.status.is_terminal() && workflow.spec.trigger.overlap() == Overlap::BufferOne {
                    shared::transport::publish_promoted(
                        self.backends.executions.as_ref(),
                        &self.backends.transport,
                        &execution.workflow_id,
                    )
                    .await;
                }
            }
            Ok(false) => {
                tracing::warn!(execution_id = %execution.execution_id, "lease lost before the outcome was recorded")
            }
            // The lease expires and the scheduler re-queues the attempt: at-least-once.
            Err(err) => {
                tracing::error!(%err, execution_id = %execution.execution_id, "cannot record the outcome")
            }
        }
    }

    /// A parked execution looks once more at the tasks it waits for: one that ended while it
    /// was parking found it still running, so it wakes itself. An ended execution cancels the
    /// tasks it leaves open.
    async fn after_tasks(
        &self,
        execution: &Execution,
        workflow: &Workflow,
        outcome: &AttemptOutcome,
    ) {
        let id = execution.execution_id;
        if let AttemptOutcome::Waiting(tasks) = outcome {
            match self.backends.tasks.any_ended(tasks).await {
                Ok(false) => {}
                Ok(true) => shared::workers::wake(&self.backends, id).await,
                Err(err) => {
                    tracing::warn!(%err, execution_id = %id, "cannot look at the tasks it waits for; waking it");
                    shared::workers::wake(&self.backends, id).await
                }
            }
        } else if execution.status.is_terminal() && !workflow.spec.services().is_empty() {
            shared::workers::cancel_open(&self.backends, id).await;
        }
    }

    /// Waits for the execution's time when it came early: a periodic slot taken up to
    /// `slots::LEAD` ahead. The cap keeps a clock ahead of this one from holding it longer.
    /// False when the shutdown grace ran out meanwhile.
    async fn until_its_time(&self, execution: &Execution) -> bool {
        if !execution.is_early() {
            return true;
        }
        let early = time::until(execution.scheduled_for, time::now()).min(slots::LEAD);
        if early.is_zero() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(early) => true,
            _ = self.release.cancelled() => false,
        }
    }

    /// Hands a claimed execution back to the queue without running it.
    async fn give_back(&self, id: uuid::Uuid) {
        let executions = self.backends.executions.as_ref();
        shared::repo::give_back(executions, id, &self.owner, time::now()).await
    }

    /// The workflow was deleted after this execution was queued.
    async fn cancel_orphan(&self, mut execution: Execution) {
        shared::workers::cancel_open(&self.backends, execution.execution_id).await;
        execution.cancel_for_deleted_workflow(time::now());
        if let Err(err) = self
            .backends
            .executions
            .finish(&execution, &self.owner)
            .await
        {
            tracing::warn!(%err, execution_id = %execution.execution_id, "cannot record the cancellation");
        }
    }
}

#[async_trait]
impl RequestHandler for Runner {
    async fn handle(&self, request: ExecutionRequest) {
        let id = request.execution_id;
        let lease = lease_for(&self.owner, self.lease_duration);
        let claimed = match self
            .backends
            .executions
            .claim(id, &lease, time::now())
            .await
        {
            Ok(Some(claimed)) => claimed,
            // Done, cancelled or held by another runner: a duplicate delivery, nothing to do.
            Ok(None) => return tracing::debug!(execution_id = %id, "not claimable; skipped"),
            Err(err) => {
                return tracing::warn!(%err, execution_id = %id, "cannot claim; the repair loop will retry")
            }
        };
        self.handle_claimed(claimed, lease).await
    }

    fn lease(&self) -> Option<Lease> {
        Some(lease_for(&self.owner, self.lease_duration))
    }

    async fn handle_claimed(&self, claimed: Claimed, lease: Lease) {
        let id = claimed.execution.execution_id;
        let services = match &claimed.workflow {
            Some(workflow) => match self.services_of(workflow).await {
                Ok(services) => services,
                Err(err) => {
                    tracing::warn!(%err, execution_id = %id, "cannot load the services the workflow calls; giving the execution back to be run again");
                    return self.give_back(id).await;
                }
            },
            None => BTreeMap::new(),
        };
        if !self.until_its_time(&claimed.execution).await {
            tracing::warn!(execution_id = %id, "shutdown grace over before the slot's time; giving the execution back");
            return self.give_back(id).await;
        }
        // When the claim (the services' read, a slot's wait for its time) took half the lease
        // or more (a store that stalled meanwhile), the execution is given back: the lease
        // would lapse before its first renewal, and the repair pass would hand it to another
        // runner while this one ran it.
        if time::until(lease.expires_at, time::now()) < self.lease_duration / 2 {
            tracing::warn!(execution_id = %id, "the claim took half its lease or more; giving the execution back");
            return self.give_back(id).await;
        }
        measure::execution_started(claimed.execution.reason);
        if is_a_slots_first_start(&claimed.execution) {
            let late = chrono::Utc::now() - claimed.execution.scheduled_for;
            measure::slot_started(late.to_std().unwrap_or_default());
        }
        self.run_claimed(claimed.execution, claimed.workflow, services)
            .await
    }
}

/// A periodic slot's run starting for the first time (not a retry, a wake, or a run given
/// back before its first step): its start against the slot is the slot's lateness.
fn is_a_slots_first_start(execution: &Execution) -> bool {
    execution.reason == Reason::Periodic
        && execution.attempt == 1
        && !execution.woken
        && execution.actions.iter().all(|a| a.started_at.is_none())
}
