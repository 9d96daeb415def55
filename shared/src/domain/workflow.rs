//! Workflow definitions (what users write) and workflows (a definition plus server state).

use super::schedule::Schedule;
use super::HumanDuration;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A workflow as the user writes it in `POST /workflows` and `PUT /workflows/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkflowSpec {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$", example = "recurrent-workflow")]
    pub workflow_id: String,
    pub trigger: Trigger,
    pub actions: Vec<Action>,
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Typed values a trigger gives (`{{ inputs.NAME }}` in templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, super::inputs::InputSpec>,
    /// The retry policy and timeout of steps that give none.
    #[serde(default, skip_serializing_if = "StepDefaults::is_empty")]
    pub defaults: StepDefaults,
    /// What a succeeded execution gives back (its `output`): templates over the inputs and
    /// the steps' outputs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub outputs: BTreeMap<String, serde_json::Value>,
    /// On update only: the version the client last saw (optimistic concurrency). Never stored.
    #[serde(default, skip_serializing)]
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Trigger {
    Periodic {
        /// Optional in the input so that a missing interval gets a sentence, not a parse error.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interval: Option<HumanDuration>,
        #[serde(default, rename = "catchUp")]
        catch_up: CatchUp,
        #[serde(default)]
        overlap: Overlap,
    },
    Cron {
        /// Five fields, or six with seconds first. Optional for the same reason as `interval`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expression: Option<String>,
        /// The IANA zone the expression's wall-clock times are read in.
        #[serde(default = "utc")]
        timezone: String,
        #[serde(default, rename = "catchUp")]
        catch_up: CatchUp,
        #[serde(default)]
        overlap: Overlap,
    },
    Manual {
        /// At most this many accepted triggers per period (the `TRIGGER_RATE_LIMIT` default
        /// applies when absent).
        #[serde(default, rename = "rateLimit", skip_serializing_if = "Option::is_none")]
        rate_limit: Option<super::RateLimit>,
        #[serde(default)]
        overlap: Overlap,
    },
}

fn utc() -> String {
    "UTC".to_string()
}

impl Trigger {
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Periodic { .. } => "periodic",
            Trigger::Cron { .. } => "cron",
            Trigger::Manual { .. } => "manual",
        }
    }

    /// When the slots of a periodic or cron trigger fall; `None` for manual ones (and for a
    /// definition validation would refuse).
    pub fn schedule(&self) -> Option<Schedule> {
        match self {
            Trigger::Periodic { interval, .. } => {
                interval.as_ref().map(|i| Schedule::Every(i.value()))
            }
            Trigger::Cron {
                expression,
                timezone,
                ..
            } => Schedule::cron(expression.as_deref()?, timezone).ok(),
            Trigger::Manual { .. } => None,
        }
    }

    /// Whether `other` puts slots at the same instants (the policies aside), so that an update
    /// keeps the schedule's anchor.
    pub fn same_schedule(&self, other: &Trigger) -> bool {
        match (self, other) {
            (Trigger::Periodic { interval: a, .. }, Trigger::Periodic { interval: b, .. }) => {
                a.as_ref().map(HumanDuration::value) == b.as_ref().map(HumanDuration::value)
            }
            (
                Trigger::Cron {
                    expression: a,
                    timezone: za,
                    ..
                },
                Trigger::Cron {
                    expression: b,
                    timezone: zb,
                    ..
                },
            ) => a == b && za == zb,
            _ => false,
        }
    }

    pub fn catch_up(&self) -> CatchUp {
        match self {
            Trigger::Periodic { catch_up, .. } | Trigger::Cron { catch_up, .. } => *catch_up,
            Trigger::Manual { .. } => CatchUp::None,
        }
    }

    pub fn overlap(&self) -> Overlap {
        match self {
            Trigger::Periodic { overlap, .. }
            | Trigger::Cron { overlap, .. }
            | Trigger::Manual { overlap, .. } => *overlap,
        }
    }
}

/// What happens to a slot or manual trigger that comes while the workflow is busy.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Overlap {
    /// It is dropped: the slot is skipped (and counted), the manual trigger answered 409.
    #[default]
    Skip,
    /// One is kept as a `buffered` execution and queued when the current one ends; further
    /// ones are dropped as with `skip`.
    BufferOne,
}

/// What a periodic or cron trigger does with slots missed while nothing was running.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CatchUp {
    /// Fire the most recent missed slot once.
    #[default]
    Last,
    /// Fire none of them; wait for the next slot.
    None,
    /// Fire every missed slot, up to a bound.
    All,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(tag = "type")]
pub enum Action {
    #[serde(rename = "log")]
    Log(LogAction),
    #[serde(rename = "http-request")]
    HttpRequest(HttpAction),
    #[serde(rename = "switch")]
    Switch(SwitchAction),
    #[serde(rename = "service")]
    Service(ServiceAction),
}

/// The same expression over every kind of action: they all carry the step fields.
macro_rules! each_kind {
    ($action:expr, $a:ident => $e:expr) => {
        match $action {
            Action::Log($a) => $e,
            Action::HttpRequest($a) => $e,
            Action::Switch($a) => $e,
            Action::Service($a) => $e,
        }
    };
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Log(_) => "log",
            Action::HttpRequest(_) => "http-request",
            Action::Switch(_) => "switch",
            Action::Service(_) => "service",
        }
    }

    /// The name other steps refer to it by (`depends`, `{{ steps.ID.output }}`).
    pub fn id(&self) -> Option<&str> {
        each_kind!(self, a => a.id.as_deref())
    }

    /// The steps it waits for: `None` is the previous action, an empty list none.
    pub fn depends(&self) -> Option<&[String]> {
        each_kind!(self, a => a.depends.as_deref())
    }

    pub fn when(&self) -> Option<&str> {
        each_kind!(self, a => a.when.as_deref())
    }

    pub fn for_each(&self) -> Option<&ForEach> {
        each_kind!(self, a => a.for_each.as_ref())
    }

    pub fn retry(&self) -> Option<&RetryPolicy> {
        each_kind!(self, a => a.retry.as_ref())
    }

    pub fn continue_on_error(&self) -> bool {
        each_kind!(self, a => a.continue_on_error)
    }
}

/// Declares an action kind with the step fields every kind has (how it sits in the graph and
/// when it runs) before its own. Written once here rather than flattened: serde cannot refuse
/// unknown fields through `flatten`, nor name the field of an error inside it.
macro_rules! action_kind {
    ($(#[$meta:meta])* pub struct $name:ident { $($fields:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $name {
            /// The name other steps refer to it by; required when referred to.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub id: Option<String>,
            /// The ids of the steps it waits for: the previous action when absent, none when
            /// empty (a root; roots run in parallel).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub depends: Option<Vec<String>>,
            /// An expression that must be a boolean; false skips the step (and the steps that
            /// depend only on skipped ones).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub when: Option<String>,
            /// Runs the step once per item of a list.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub for_each: Option<ForEach>,
            /// This step's retry policy, over the workflow's.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub retry: Option<RetryPolicy>,
            /// A failure (after its retries) lets its dependants run instead of failing the
            /// execution.
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub continue_on_error: bool,
            $($fields)*
        }
    };
}

action_kind! {
    pub struct LogAction {
        pub message: String,
        #[serde(default)]
        pub level: LogLevel,
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

action_kind! {
    pub struct HttpAction {
        pub url: String,
        #[serde(default = "default_method")]
        pub method: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub headers: BTreeMap<String, String>,
        /// A string is sent as is; any other JSON value is sent as JSON.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub body: Option<serde_json::Value>,
        /// The workflow's `defaults.timeout`, or 10s, when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub timeout: Option<HumanDuration>,
        /// Statuses that count as success; any 2xx when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub expect_status: Option<ExpectStatus>,
        /// Send `headers` on a redirect to another origin too. Off by default: they often carry
        /// credentials meant for the first origin only.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pub forward_headers_on_redirect: bool,
        /// Send `Idempotency-Key: <executionId>:<step>[:<item>]`, the same on every retry, so
        /// that a receiver honouring it does the work once.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pub idempotency_key: bool,
    }
}

action_kind! {
    /// Calls a registered service (`/services`) with a JSON object of its inputs; its output
    /// is the object the service answers, checked against the service's declared outputs.
    pub struct ServiceAction {
        /// The service's name in the registry.
        pub service: String,
        /// Input name → value; strings may hold templates, and one that is exactly one
        /// `{{ … }}` keeps its JSON type.
        #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
        #[schema(value_type = Object)]
        pub input: serde_json::Map<String, serde_json::Value>,
        /// Over the service's own timeout and the workflow's `defaults.timeout`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub timeout: Option<HumanDuration>,
        /// Send `Idempotency-Key: <executionId>:<step>[:<item>]`, as `http-request` does.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pub idempotency_key: bool,
    }
}

action_kind! {
    /// Routes to one branch: the steps of the case its value selects run, the others' are
    /// skipped (and so are their dependants).
    pub struct SwitchAction {
        /// An expression; its value (a string, number or boolean) picks the case.
        pub value: String,
        /// Case value → the ids of the steps that run when it is selected.
        pub cases: BTreeMap<String, Vec<String>>,
        /// The steps that run when no case matches.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub default: Vec<String>,
    }
}

impl SwitchAction {
    /// The ids of every step a case or the default names.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.cases
            .values()
            .flatten()
            .chain(&self.default)
            .map(String::as_str)
    }
}

/// A fan-out: the step runs once per item of `items`, at most `concurrency` at a time; its
/// output is the list of the items' outputs, in item order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForEach {
    /// An expression that must give a list (`steps.list.output.body.items`).
    pub items: String,
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// More items than this fail the step rather than run.
    #[serde(default = "default_max_items")]
    pub max_items: u32,
    /// On an item's failure, start no further item (those running finish).
    #[serde(default = "default_fail_fast")]
    pub fail_fast: bool,
}

fn default_concurrency() -> u32 {
    10
}

fn default_max_items() -> u32 {
    1000
}

fn default_fail_fast() -> bool {
    true
}

/// What a step takes when it does not say.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepDefaults {
    /// The retry policy of every step without its own (instead of the workflow's `retry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// The timeout of every `http-request` without its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
}

impl StepDefaults {
    fn is_empty(&self) -> bool {
        self.retry.is_none() && self.timeout.is_none()
    }
}

/// An `http-request` without a timeout of its own or of the workflow's defaults.
pub const DEFAULT_HTTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// A worker step's task without a timeout of its own, its service's or the workflow's: work
/// that waits in a queue for a worker is given longer than one HTTP call.
pub const DEFAULT_TASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

impl WorkflowSpec {
    /// The retry policy that governs a step.
    pub fn retry_of<'a>(&'a self, action: &'a Action) -> &'a RetryPolicy {
        action
            .retry()
            .or(self.defaults.retry.as_ref())
            .unwrap_or(&self.retry)
    }

    /// The most attempts any step may take: what bounds an execution whose runner keeps dying.
    pub fn max_attempts(&self) -> u32 {
        self.actions
            .iter()
            .map(|a| self.retry_of(a).max_attempts)
            .max()
            .unwrap_or(self.retry.max_attempts)
    }

    /// A call's timeout: the step's own, else `fallback` (a service's), else the workflow's
    /// default, else 10s.
    pub fn timeout_of(
        &self,
        own: Option<&HumanDuration>,
        fallback: Option<&HumanDuration>,
    ) -> std::time::Duration {
        self.timeout_or(own, fallback, DEFAULT_HTTP_TIMEOUT)
    }

    /// As [`Self::timeout_of`], with `default` when nothing gives one.
    pub fn timeout_or(
        &self,
        own: Option<&HumanDuration>,
        fallback: Option<&HumanDuration>,
        default: std::time::Duration,
    ) -> std::time::Duration {
        own.or(fallback)
            .or(self.defaults.timeout.as_ref())
            .map_or(default, HumanDuration::value)
    }

    /// The names of the services its steps call, each once.
    pub fn services(&self) -> std::collections::BTreeSet<&str> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Service(call) => Some(call.service.as_str()),
                _ => None,
            })
            .collect()
    }
}

fn default_method() -> String {
    "GET".to_string()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ExpectStatus {
    One(u16),
    AnyOf(Vec<u16>),
}

impl ExpectStatus {
    pub fn codes(&self) -> &[u16] {
        match self {
            ExpectStatus::One(code) => std::slice::from_ref(code),
            ExpectStatus::AnyOf(codes) => codes,
        }
    }

    pub fn accepts(expect: Option<&ExpectStatus>, status: u16) -> bool {
        match expect {
            Some(e) => e.codes().contains(&status),
            None => (200..300).contains(&status),
        }
    }
}

/// Exponential backoff between attempts (DESIGN §3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_delay: HumanDuration,
    pub multiplier: f64,
    pub max_delay: HumanDuration,
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_delay: HumanDuration::parse("1s").expect("constant duration"),
            multiplier: 2.0,
            max_delay: HumanDuration::parse("5m").expect("constant duration"),
            jitter: 0.1,
        }
    }
}

/// Read-only trigger state maintained by the runner.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TriggerStatus {
    Idle,
    Busy,
    /// A failed execution waits for its retry.
    Pending,
}

impl TriggerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerStatus::Idle => "idle",
            TriggerStatus::Busy => "busy",
            TriggerStatus::Pending => "pending",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "idle" => Some(Self::Idle),
            "busy" => Some(Self::Busy),
            "pending" => Some(Self::Pending),
            _ => None,
        }
    }
}

/// A stored workflow: the user's definition plus the state the server keeps for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub spec: WorkflowSpec,
    pub status: TriggerStatus,
    /// The live execution while `status` is not idle.
    pub current_execution_id: Option<uuid::Uuid>,
    /// Next periodic slot; `None` for manual triggers.
    pub next_run_at: Option<Timestamp>,
    pub paused: bool,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Workflow {
    /// A workflow as created at `now`: version 1, idle, its first periodic slot one interval
    /// after creation (the anchor of every later slot).
    pub fn created(mut spec: WorkflowSpec, now: Timestamp) -> Self {
        spec.version = None;
        Self {
            next_run_at: spec
                .trigger
                .schedule()
                .and_then(|schedule| schedule.first_after(now)),
            spec,
            status: TriggerStatus::Idle,
            current_execution_id: None,
            paused: false,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn id(&self) -> &str {
        &self.spec.workflow_id
    }
}

/// The API view of a workflow: the definition with `trigger.status` and the server fields
/// beside it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct WorkflowView<'a> {
    workflow_id: &'a str,
    trigger: TriggerView<'a>,
    actions: &'a [Action],
    retry: &'a RetryPolicy,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    inputs: &'a BTreeMap<String, super::inputs::InputSpec>,
    #[serde(skip_serializing_if = "StepDefaults::is_empty")]
    defaults: &'a StepDefaults,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    outputs: &'a BTreeMap<String, serde_json::Value>,
    paused: bool,
    /// The next periodic or cron slot.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    next_run_at: Option<Timestamp>,
    /// The live execution while the workflow is busy or pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    current_execution_id: Option<uuid::Uuid>,
    version: u64,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WorkflowTrigger)]
struct TriggerView<'a> {
    #[serde(flatten)]
    trigger: &'a Trigger,
    status: TriggerStatus,
}

/// The OpenAPI schema of a workflow is its view's.
impl utoipa::PartialSchema for Workflow {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <WorkflowView<'static> as utoipa::PartialSchema>::schema()
    }
}

impl utoipa::ToSchema for Workflow {
    fn name() -> std::borrow::Cow<'static, str> {
        "Workflow".into()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <WorkflowView<'static> as utoipa::ToSchema>::schemas(schemas)
    }
}

impl Serialize for Workflow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WorkflowView {
            workflow_id: &self.spec.workflow_id,
            trigger: TriggerView {
                trigger: &self.spec.trigger,
                status: self.status,
            },
            actions: &self.spec.actions,
            retry: &self.spec.retry,
            inputs: &self.spec.inputs,
            defaults: &self.spec.defaults,
            outputs: &self.spec.outputs,
            paused: self.paused,
            next_run_at: self.next_run_at,
            current_execution_id: self.current_execution_id,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
        .serialize(s)
    }
}
