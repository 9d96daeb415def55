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
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Log(_) => "log",
            Action::HttpRequest(_) => "http-request",
        }
    }

    /// The name later actions refer to it by (`{{ steps.ID.output }}`).
    pub fn id(&self) -> Option<&str> {
        match self {
            Action::Log(a) => a.id.as_deref(),
            Action::HttpRequest(a) => a.id.as_deref(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogAction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub message: String,
    #[serde(default)]
    pub level: LogLevel,
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

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpAction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub url: String,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A string is sent as is; any other JSON value is sent as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Statuses that count as success; any 2xx when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<ExpectStatus>,
    /// Send `headers` on a redirect to another origin too. Off by default: they often carry
    /// credentials meant for the first origin only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forward_headers_on_redirect: bool,
}

fn default_method() -> String {
    "GET".to_string()
}

fn default_timeout() -> HumanDuration {
    HumanDuration::parse("10s").expect("constant duration")
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
