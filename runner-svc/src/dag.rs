//! The steps of one attempt in motion. A step starts once every step it depends on is settled
//! (succeeded, skipped, or failed and continuing), so roots and independent branches run in
//! parallel; a fan-out runs its items up to its concurrency. A step that fails for good stops
//! anything new from starting; those running finish. All of it happens in the attempt's own
//! task, between awaits: the state below has one writer.

use crate::actions::{self, permanent, ActionContext, ActionFailure};
use crate::output::{capped, marker, size_of};
use crate::render::{idempotency_key, Run, Templates};
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use serde_json::{json, Value};
use shared::domain::graph::StepGraph;
use shared::domain::task::{task_id, Task, TaskStatus};
use shared::domain::ServiceAction;
use shared::domain::{
    Action, ActionStatus, Execution, ForEach, ItemResult, ServiceSpec, SwitchAction, Workflow,
};
use shared::egress::EgressPolicy;
use shared::repo::ExecutionRepo;
use shared::secrets::Secrets;
use shared::time::{self, Timestamp};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Instant;
use uuid::Uuid;

/// What the steps of an attempt run with.
pub struct Tools<'a> {
    pub http: &'a reqwest::Client,
    pub egress: &'a EgressPolicy,
    pub secrets: &'a Secrets,
    pub executions: &'a dyn ExecutionRepo,
    /// The largest output recorded (`STEP_OUTPUT_LIMIT`).
    pub output_limit: usize,
    /// Where worker steps' tasks go.
    pub backends: &'a shared::Backends,
    /// The execution's tasks as they were when the attempt began.
    pub tasks: &'a BTreeMap<Uuid, Task>,
    /// The services the workflow's steps call, read when the attempt began.
    pub services: &'a BTreeMap<String, ServiceSpec>,
}

/// A step (or an item) that failed and so fails the attempt.
#[derive(Debug)]
pub struct StepFailure {
    pub step: usize,
    pub failure: ActionFailure,
}

/// One call in flight and, once it ends, what it returned.
pub type Call<'a> = BoxFuture<'a, Ended>;
pub type Calls<'a> = FuturesUnordered<Call<'a>>;

/// How a ready step begins.
enum Start<'a> {
    Skip,
    Fail(String),
    Route(&'a SwitchAction, Result<Value, String>),
    FanOut(&'a ForEach, Result<Value, String>, minijinja::Value),
    Call(Box<Cow<'a, Action>>),
}

pub struct Ended {
    run: Run,
    started: Timestamp,
    clock: Instant,
    result: actions::ActionResult,
    /// A worker step's task: its deliveries go on the record; while it has not ended the step
    /// (or item) waits for it.
    task: Option<Box<Task>>,
}

/// A fan-out step while it runs.
struct FanOut {
    items: Vec<Value>,
    /// The step's template context, built once for all its items.
    context: minijinja::Value,
    running: usize,
    /// `failFast` and an item failed: no further item starts.
    halted: bool,
    /// Every item that failed may succeed on another try.
    retryable: bool,
    /// The longest `Retry-After` an item's server asked for.
    retry_after: Option<std::time::Duration>,
    /// The size of the item outputs kept so far: once over the output limit, none is kept
    /// (the step's output, their list, could not be).
    output_bytes: usize,
    /// Items whose task waits for a worker: they count against the concurrency.
    waiting: usize,
}

pub struct Steps<'a, 'e> {
    execution: &'e mut Execution,
    workflow: &'a Workflow,
    tools: &'a Tools<'a>,
    graph: StepGraph,
    fan_outs: BTreeMap<usize, FanOut>,
    /// Once one is here, nothing new starts.
    failures: Vec<StepFailure>,
    /// The tasks steps and items wait for (workers run them).
    waiting: Vec<Uuid>,
}

impl<'a, 'e> Steps<'a, 'e> {
    /// The steps of a new attempt: what did not settle before runs again (a fan-out's
    /// succeeded items excepted). Resumed after a task's end (`woken`), the attempt goes on:
    /// a fan-out's failed items stay failed.
    pub fn new(
        execution: &'e mut Execution,
        workflow: &'a Workflow,
        tools: &'a Tools<'a>,
        graph: StepGraph,
    ) -> Self {
        let resuming = std::mem::take(&mut execution.woken);
        for step in execution.actions.iter_mut().filter(|s| !s.is_settled()) {
            if !resuming {
                step.keep_failed_attempt();
            }
            step.status = ActionStatus::Pending;
            for item in step.items.iter_mut().filter(|i| match resuming {
                true => i.status == ActionStatus::Running,
                false => i.status != ActionStatus::Succeeded,
            }) {
                item.status = ActionStatus::Pending;
            }
        }
        Self {
            execution,
            workflow,
            tools,
            graph,
            fan_outs: BTreeMap::new(),
            failures: Vec::new(),
            waiting: Vec::new(),
        }
    }

    /// Saves the progress so far, so that a crash later does not repeat a step that ended.
    /// False when the lease was lost.
    pub async fn save(&mut self) -> Result<bool, shared::repo::RepoError> {
        self.note_progress();
        self.execution.updated_at = time::now();
        self.tools.executions.save_progress(self.execution).await
    }

    /// Starts every step whose dependencies are settled, and tops fan-outs up to their
    /// concurrency; settling a step (skipped, routed) may make others ready in turn.
    pub fn start_ready(&mut self, calls: &mut Calls<'a>) {
        loop {
            let mut changed = false;
            for i in 0..self.graph.len() {
                if !self.failures.is_empty() {
                    return;
                }
                match self.execution.actions[i].status {
                    ActionStatus::Pending if self.dependencies_settled(i) => {
                        self.start(i, calls);
                        changed = true;
                    }
                    ActionStatus::Running if self.fan_outs.contains_key(&i) => {
                        changed |= self.top_up(i, calls);
                    }
                    _ => {}
                }
            }
            if !changed {
                return;
            }
        }
    }

    /// Records a call that ended.
    pub fn record(&mut self, ended: Ended) {
        let Ended {
            run,
            started,
            clock,
            result,
            task,
        } = ended;
        if let Some(task) = &task {
            self.note_deliveries(run, task);
            if !task.status.is_ended() {
                return self.wait_for(run, task.task_id);
            }
        }
        let workflow = self.workflow;
        let action = &workflow.spec.actions[run.step];
        shared::telemetry::measure::action_ran(action.kind(), result.is_ok(), clock.elapsed());
        // What is recorded (and shown, and logged) never holds a secret's value: a response
        // or an error may echo what was sent.
        let secrets = self.tools.secrets;
        let result = match secrets.is_empty() {
            true => result,
            false => result
                .map(|output| secrets.scrub_value(&output))
                .map_err(|failure| ActionFailure {
                    error: secrets.scrub(&failure.error),
                    ..failure
                }),
        };
        let finished = time::now();
        let duration_ms = Some(clock.elapsed().as_millis() as u64);
        // A task's attempts are its deliveries, counted by the task itself.
        let counted = task.as_ref().map(|t| t.attempt.max(1));
        let started = task.as_ref().map_or(started, |t| t.created_at);
        let Some(k) = run.item else {
            let step = &mut self.execution.actions[run.step];
            step.attempts = counted.unwrap_or(step.attempts + 1);
            step.started_at = Some(started);
            step.finished_at = Some(finished);
            step.duration_ms = duration_ms;
            match result {
                Ok(output) => self.succeed(run.step, output),
                Err(failure) => self.fail(run.step, failure),
            }
            return;
        };
        let item = &mut self.execution.actions[run.step].items[k];
        item.attempts = counted.unwrap_or(item.attempts + 1);
        item.started_at = Some(started);
        item.finished_at = Some(finished);
        item.duration_ms = duration_ms;
        let fan_fast = action.for_each().is_some_and(|f| f.fail_fast);
        match result {
            Ok(output) => {
                item.status = ActionStatus::Succeeded;
                item.error = None;
                self.keep_item_output(run.step, k, output);
            }
            Err(failure) => {
                item.status = ActionStatus::Failed;
                item.output = None;
                item.error = Some(failure.error);
                if let Some(fan) = self.fan_outs.get_mut(&run.step) {
                    fan.halted |= fan_fast;
                    fan.retryable &= failure.retryable;
                    fan.retry_after = fan.retry_after.max(failure.retry_after);
                }
            }
        }
        let Some(fan) = self.fan_outs.get_mut(&run.step) else {
            return;
        };
        fan.running -= 1;
        let pending = self.execution.actions[run.step]
            .items
            .iter()
            .any(|i| i.status == ActionStatus::Pending);
        let idle = fan.running == 0 && fan.waiting == 0;
        if idle && (fan.halted || !pending || !self.failures.is_empty()) {
            self.end_fan_out(run.step);
        }
    }

    /// A worker's deliveries of a step's (or item's) task, for the record: the latest few,
    /// each error short and scrubbed of secrets (a fan-out of a thousand items each with a
    /// long error would not fit a document).
    fn note_deliveries(&mut self, run: Run, task: &Task) {
        const KEPT: usize = 10;
        const ERROR_CHARS: usize = 500;
        let secrets = self.tools.secrets;
        let skip = task.attempts.len().saturating_sub(KEPT);
        let deliveries: Vec<_> = task.attempts[skip..]
            .iter()
            .map(|a| {
                let mut a = a.clone();
                a.error = a.error.map(|e| {
                    let e = secrets.scrub(&e);
                    match e.char_indices().nth(ERROR_CHARS) {
                        Some((cut, _)) => format!("{}…", &e[..cut]),
                        None => e,
                    }
                });
                a
            })
            .collect();
        let step = &mut self.execution.actions[run.step];
        match run.item {
            Some(k) => {
                step.items[k].task_id = Some(task.task_id);
                step.items[k].workers = deliveries;
            }
            None => {
                step.task_id = Some(task.task_id);
                step.workers = deliveries;
            }
        }
    }

    /// The step (or item) stays running while a worker has its task; the attempt parks once
    /// nothing else is in flight.
    fn wait_for(&mut self, run: Run, task_id: Uuid) {
        self.waiting.push(task_id);
        if run.item.is_some() {
            if let Some(fan) = self.fan_outs.get_mut(&run.step) {
                fan.running -= 1;
                fan.waiting += 1;
            }
        }
    }

    /// The tasks this attempt waits for.
    pub fn waiting(&self) -> &[Uuid] {
        &self.waiting
    }

    /// Keeps an item's output while the outputs of the fan-out stay within the limit.
    fn keep_item_output(&mut self, i: usize, k: usize, output: Value) {
        let limit = self.tools.output_limit;
        let step = &mut self.execution.actions[i];
        let Some(fan) = self.fan_outs.get_mut(&i) else {
            return;
        };
        if step.output_truncated {
            return;
        }
        let size = size_of(&output);
        if fan.output_bytes.saturating_add(size) > limit {
            step.output_truncated = true;
            step.items.iter_mut().for_each(|it| it.output = None);
            fan.output_bytes = 0;
            return;
        }
        fan.output_bytes += size;
        step.items[k].output = Some(output);
    }

    /// After the last call: the failures that end the attempt (none when it succeeded).
    pub fn outcome(mut self) -> Vec<StepFailure> {
        self.note_progress();
        if self.failures.is_empty() && self.waiting.is_empty() {
            if let Some(i) = self.execution.actions.iter().position(|s| !s.is_settled()) {
                // Cannot happen in a checked graph; said plainly if it ever does.
                self.failures.push(StepFailure {
                    step: i,
                    failure: permanent(format!("actions[{i}] could not start")),
                });
            }
        }
        self.failures
    }

    /// Keeps `nextActionIndex` true: every step before it has settled.
    pub fn note_progress(&mut self) {
        let actions = &self.execution.actions;
        self.execution.next_action_index = actions
            .iter()
            .position(|s| !s.is_settled())
            .unwrap_or(actions.len());
    }

    fn dependencies_settled(&self, i: usize) -> bool {
        self.graph
            .dependencies(i)
            .iter()
            .all(|&d| self.execution.actions[d].is_settled())
    }

    fn start(&mut self, i: usize, calls: &mut Calls<'a>) {
        let workflow = self.workflow;
        let action = &workflow.spec.actions[i];
        let dependencies = self.graph.dependencies(i);
        let skipped = |d: &usize| self.execution.actions[*d].status == ActionStatus::Skipped;
        if !dependencies.is_empty() && dependencies.iter().all(skipped) {
            return self.skip(i);
        }
        let run = Run {
            step: i,
            item: None,
        };
        // Everything read from the execution is read here, before any of it changes.
        let start = {
            let templates = Templates::new(self.execution, workflow, self.tools.secrets);
            let when = action.when().map(|when| templates.evaluate("when", when));
            match (when, action) {
                (Some(Ok(Value::Bool(false))), _) => Start::Skip,
                (Some(Ok(Value::Bool(true))) | None, Action::Switch(switch)) => {
                    Start::Route(switch, templates.evaluate("value", &switch.value))
                }
                (Some(Ok(Value::Bool(true))) | None, _) => match action.for_each() {
                    Some(for_each) => Start::FanOut(
                        for_each,
                        templates.evaluate("forEach.items", &for_each.items),
                        templates.context_value(),
                    ),
                    None => match templates.rendered(action, run, None) {
                        Ok(rendered) => Start::Call(Box::new(rendered)),
                        Err(error) => {
                            Start::Fail(format!("a template cannot be rendered: {error}"))
                        }
                    },
                },
                (Some(Ok(other)), _) => {
                    Start::Fail(format!("when: must be true or false, got {other}"))
                }
                (Some(Err(error)), _) => Start::Fail(error),
            }
        };
        match start {
            Start::Skip => self.skip(i),
            Start::Fail(error) => self.fail_now(i, error),
            Start::Route(switch, value) => self.route(i, switch, value),
            Start::FanOut(for_each, items, context) => {
                self.begin_fan_out(i, for_each, items, context)
            }
            Start::Call(rendered) => {
                calls.push(self.call(*rendered, run));
                self.mark_running(i);
            }
        }
    }

    fn call(&self, action: Cow<'a, Action>, run: Run) -> Call<'a> {
        if let Action::Service(call) = action.as_ref() {
            if let Some(service) = self.tools.services.get(&call.service) {
                if let Some(queue) = &service.queue {
                    return self.dispatch(call, service, queue, run);
                }
            }
        }
        let tools = self.tools;
        let spec = &self.workflow.spec;
        let (timeout, idempotency_key) = match action.as_ref() {
            Action::HttpRequest(http) => (spec.timeout_of(http.timeout.as_ref(), None), None),
            Action::Service(call) => {
                let registered = tools.services.get(&call.service);
                let timeout = spec.timeout_of(
                    call.timeout.as_ref(),
                    registered.and_then(|s| s.timeout.as_ref()),
                );
                let key = call
                    .idempotency_key
                    .then(|| idempotency_key(self.execution, self.workflow, run));
                (timeout, key)
            }
            _ => (shared::domain::workflow::DEFAULT_HTTP_TIMEOUT, None),
        };
        let workflow_id = self.workflow.id();
        let execution_id = self.execution.execution_id;
        Box::pin(async move {
            let started = time::now();
            let clock = Instant::now();
            let ctx = ActionContext {
                http: tools.http,
                egress: tools.egress,
                workflow_id,
                execution_id,
                timeout,
                services: tools.services,
                idempotency_key,
            };
            let result = actions::run(&action, &ctx).await;
            Ended {
                run,
                started,
                clock,
                result,
                task: None,
            }
        })
    }

    /// A step of a worker service: its task is recorded (once), and its result, when a worker
    /// reported one, taken.
    fn dispatch(
        &self,
        call: &ServiceAction,
        service: &'a ServiceSpec,
        queue: &str,
        run: Run,
    ) -> Call<'a> {
        let spec = &self.workflow.spec;
        let action = &spec.actions[run.step];
        let now = time::now();
        let timeout = spec.timeout_or(
            call.timeout.as_ref(),
            service.timeout.as_ref(),
            shared::domain::workflow::DEFAULT_TASK_TIMEOUT,
        );
        let checked = service.check_input(&call.input);
        let task = Task {
            task_id: task_id(
                self.execution.execution_id,
                self.execution.workflow_version,
                run.step,
                run.item,
            ),
            execution_id: self.execution.execution_id,
            workflow_id: self.workflow.id().to_string(),
            step_id: action.id().map_or(run.step.to_string(), str::to_string),
            step: run.step,
            item: run.item,
            queue: queue.to_string(),
            input: Value::Object(call.input.clone()),
            status: TaskStatus::Queued,
            attempt: 0,
            max_attempts: spec.retry_of(action).max_attempts,
            retry: spec.retry_of(action).clone(),
            available_at: now,
            lease: None,
            deadline: time::add(now, timeout),
            output: None,
            error: None,
            attempts: Vec::new(),
            // Set by dispatch when a bus carries tasks.
            publish_at: None,
            published_at: None,
            created_at: now,
            updated_at: now,
        };
        let backends = self.tools.backends;
        let known = self.tools.tasks;
        let name = call.service.clone();
        Box::pin(async move {
            let clock = Instant::now();
            let ended = |result, task| Ended {
                run,
                started: now,
                clock,
                result,
                task,
            };
            if let Err(p) = checked {
                return ended(Err(permanent(format!("service `{name}`: {p}"))), None);
            }
            match shared::workers::dispatch(backends, &task, known).await {
                Ok(stored) => {
                    let result = task_result(&name, service, &stored);
                    ended(result, Some(Box::new(stored)))
                }
                Err(err) => ended(
                    Err(ActionFailure {
                        error: format!("cannot record the task for the workers: {err}"),
                        retryable: true,
                        retry_after: None,
                    }),
                    None,
                ),
            }
        })
    }

    fn mark_running(&mut self, i: usize) {
        self.execution.actions[i].start(time::now());
    }

    fn skip(&mut self, i: usize) {
        let step = &mut self.execution.actions[i];
        step.status = ActionStatus::Skipped;
        step.output = None;
        step.error = None;
    }

    fn succeed(&mut self, i: usize, output: Value) {
        let (output, truncated) = capped(output, self.tools.output_limit);
        let step = &mut self.execution.actions[i];
        step.status = ActionStatus::Succeeded;
        step.output = Some(output);
        step.output_truncated = truncated;
        step.error = None;
        step.continued = false;
    }

    /// A step failed (its attempt counted): it fails the attempt, unless its retries are
    /// spent and `continueOnError` lets its dependants go on.
    fn fail(&mut self, i: usize, failure: ActionFailure) {
        let workflow = self.workflow;
        let action = &workflow.spec.actions[i];
        let policy = workflow.spec.retry_of(action);
        let step = &mut self.execution.actions[i];
        step.status = ActionStatus::Failed;
        step.output = None;
        step.error = Some(failure.error.clone());
        let spent = !failure.retryable || step.attempts >= policy.max_attempts;
        step.continued = spent && action.continue_on_error();
        if !step.continued {
            self.failures.push(StepFailure { step: i, failure });
        }
    }

    /// A step that fails before any call: a template or expression that cannot be evaluated.
    /// Not retryable: the same inputs give the same error.
    fn fail_now(&mut self, i: usize, error: String) {
        self.count_instant_attempt(i);
        self.fail(i, permanent(error));
    }

    /// An attempt of a step that needed no call (it ended where it started).
    fn count_instant_attempt(&mut self, i: usize) {
        let now = time::now();
        let step = &mut self.execution.actions[i];
        step.attempts += 1;
        step.started_at = Some(now);
        step.finished_at = Some(now);
        step.duration_ms = Some(0);
    }

    /// A switch: the steps of the chosen case run, those of every other case are skipped.
    fn route(&mut self, i: usize, switch: &SwitchAction, value: Result<Value, String>) {
        let value = match value {
            Ok(value) => value,
            Err(error) => return self.fail_now(i, error),
        };
        let key = match &value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        let case = key.filter(|k| switch.cases.contains_key(k));
        let chosen = case.as_ref().map_or(&switch.default, |k| &switch.cases[k]);
        for target in switch.targets() {
            if chosen.iter().any(|c| c == target) {
                continue;
            }
            let spec = &self.workflow.spec.actions;
            if let Some(t) = spec.iter().position(|a| a.id() == Some(target)) {
                if self.execution.actions[t].status == ActionStatus::Pending {
                    self.skip(t);
                }
            }
        }
        self.count_instant_attempt(i);
        self.succeed(i, json!({ "value": value, "case": case }));
    }

    fn begin_fan_out(
        &mut self,
        i: usize,
        for_each: &ForEach,
        items: Result<Value, String>,
        context: minijinja::Value,
    ) {
        let items = match items {
            Ok(Value::Array(items)) => items,
            Ok(other) => {
                let kind = match other {
                    Value::Null => "null",
                    Value::Object(_) => "an object",
                    _ => "a single value",
                };
                return self.fail_now(i, format!("forEach.items: must be a list, got {kind}"));
            }
            Err(error) => return self.fail_now(i, error),
        };
        if items.len() > for_each.max_items as usize {
            return self.fail_now(
                i,
                format!(
                    "forEach.items: {} items, over the step's maxItems of {}",
                    items.len(),
                    for_each.max_items
                ),
            );
        }
        let step = &mut self.execution.actions[i];
        // Item results carry over from an earlier attempt only if they are the same items.
        if step.items.len() != items.len() {
            step.items = vec![ItemResult::pending(); items.len()];
            step.output_truncated = false;
        }
        let output_bytes = step
            .items
            .iter()
            .filter_map(|it| it.output.as_ref())
            .map(size_of)
            .sum();
        // Resumed after a wake with an item failed already: `failFast` still holds.
        let halted = for_each.fail_fast
            && step
                .items
                .iter()
                .any(|it| it.status == ActionStatus::Failed);
        self.mark_running(i);
        self.fan_outs.insert(
            i,
            FanOut {
                items,
                context,
                running: 0,
                halted,
                retryable: true,
                retry_after: None,
                output_bytes,
                waiting: 0,
            },
        );
    }

    /// Starts items up to the concurrency; true when that ended the step (no item left).
    fn top_up(&mut self, i: usize, calls: &mut Calls<'a>) -> bool {
        let workflow = self.workflow;
        let action = &workflow.spec.actions[i];
        let (concurrency, fail_fast) = action
            .for_each()
            .map_or((1, true), |f| (f.concurrency as usize, f.fail_fast));
        loop {
            let fan = &self.fan_outs[&i];
            if fan.halted || fan.running + fan.waiting >= concurrency {
                break;
            }
            let items = &self.execution.actions[i].items;
            let Some(k) = items
                .iter()
                .position(|it| it.status == ActionStatus::Pending)
            else {
                break;
            };
            let run = Run {
                step: i,
                item: Some(k),
            };
            let rendered = Templates::new(self.execution, workflow, self.tools.secrets)
                .with_context(fan.context.clone())
                .rendered(action, run, Some(&fan.items[k]));
            let now = time::now();
            match rendered {
                Ok(rendered) => {
                    calls.push(self.call(rendered, run));
                    self.execution.actions[i].items[k].start(now);
                    if let Some(fan) = self.fan_outs.get_mut(&i) {
                        fan.running += 1;
                    }
                }
                Err(error) => {
                    let item = &mut self.execution.actions[i].items[k];
                    item.attempts += 1;
                    item.started_at = Some(now);
                    item.finished_at = Some(now);
                    item.status = ActionStatus::Failed;
                    item.error = Some(format!("a template cannot be rendered: {error}"));
                    if let Some(fan) = self.fan_outs.get_mut(&i) {
                        fan.halted |= fail_fast;
                        fan.retryable = false;
                    }
                }
            }
        }
        let fan = &self.fan_outs[&i];
        if fan.running == 0 && fan.waiting == 0 {
            self.end_fan_out(i);
            return true;
        }
        false
    }

    /// Every item ran (or `failFast` stopped them): the step's output is the list of their
    /// outputs in item order, or it failed naming the first failed item.
    fn end_fan_out(&mut self, i: usize) {
        let Some(fan) = self.fan_outs.remove(&i) else {
            return;
        };
        let now = time::now();
        let step = &mut self.execution.actions[i];
        let failed: Vec<usize> = (0..step.items.len())
            .filter(|&k| step.items[k].status == ActionStatus::Failed)
            .collect();
        let done = step
            .items
            .iter()
            .all(|it| it.status == ActionStatus::Succeeded);
        if failed.is_empty() && !done {
            // Another step failed first: this one resumes on the next attempt.
            step.status = ActionStatus::Pending;
            return;
        }
        step.attempts += 1;
        step.finished_at = Some(now);
        step.duration_ms = step
            .started_at
            .map(|s| (now - s).num_milliseconds().max(0) as u64);
        if done && step.output_truncated {
            step.output = Some(marker(None, self.tools.output_limit));
            step.status = ActionStatus::Succeeded;
            step.error = None;
            return;
        }
        if done {
            let outputs: Vec<Value> = step
                .items
                .iter_mut()
                .map(|it| it.output.take().unwrap_or(Value::Null))
                .collect();
            return self.succeed(i, Value::Array(outputs));
        }
        let total = step.items.len();
        let first = failed[0];
        let not_started = step
            .items
            .iter()
            .filter(|it| it.status == ActionStatus::Pending)
            .count();
        let mut error = format!(
            "{} of {total} items failed; item {first}: {}",
            failed.len(),
            step.items[first].error.as_deref().unwrap_or("failed")
        );
        if not_started > 0 {
            error.push_str(&format!(" ({not_started} not started: failFast)"));
        }
        self.fail(
            i,
            ActionFailure {
                error,
                retryable: fan.retryable,
                retry_after: fan.retry_after,
            },
        );
    }
}

/// What an ended task means for its step: the worker's output (checked against the service's
/// declared outputs), or its failure. Retries happened within the task (nacks, lapsed leases,
/// under the step's policy), so a failure here is final.
fn task_result(name: &str, service: &ServiceSpec, task: &Task) -> actions::ActionResult {
    match task.status {
        TaskStatus::Completed => {
            let output = task.output.clone().unwrap_or(Value::Null);
            service.check_output(&output).map_err(|p| {
                permanent(format!(
                    "service `{name}` answered outside its declaration: {p}"
                ))
            })?;
            Ok(output)
        }
        TaskStatus::Failed => Err(permanent(format!(
            "service `{name}`: {}",
            task.error.as_deref().unwrap_or("the task failed")
        ))),
        TaskStatus::Cancelled => Err(permanent(format!(
            "service `{name}`: the task was cancelled"
        ))),
        // Not ended: the step waits (see `record`).
        TaskStatus::Queued | TaskStatus::Leased => Ok(Value::Null),
    }
}
