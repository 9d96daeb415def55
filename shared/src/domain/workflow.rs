//! Workflow definitions (what users write) and workflows (a definition plus server state).

use super::HumanDuration;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// A workflow as the user writes it in `POST /workflows` and `PUT /workflows/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkflowSpec {
    pub workflow_id: String,
    pub trigger: Trigger,
    pub actions: Vec<Action>,
    #[serde(default)]
    pub retry: RetryPolicy,
    /// On update only: the version the client last saw (optimistic concurrency). Never stored.
    #[serde(default, skip_serializing)]
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Trigger {
    Periodic {
        /// Optional in the input so that a missing interval gets a sentence, not a parse error.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interval: Option<HumanDuration>,
        #[serde(default, rename = "catchUp")]
        catch_up: CatchUp,
    },
    Manual {
        /// At most this many accepted triggers per period (the `TRIGGER_RATE_LIMIT` default
        /// applies when absent).
        #[serde(default, rename = "rateLimit", skip_serializing_if = "Option::is_none")]
        rate_limit: Option<super::RateLimit>,
    },
}

impl Trigger {
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Periodic { .. } => "periodic",
            Trigger::Manual { .. } => "manual",
        }
    }

    /// The period of a periodic trigger; `None` for manual ones.
    pub fn interval(&self) -> Option<Duration> {
        match self {
            Trigger::Periodic { interval, .. } => interval.as_ref().map(HumanDuration::value),
            Trigger::Manual { .. } => None,
        }
    }

    pub fn catch_up(&self) -> CatchUp {
        match self {
            Trigger::Periodic { catch_up, .. } => *catch_up,
            Trigger::Manual { .. } => CatchUp::None,
        }
    }
}

/// What a periodic trigger does with slots missed while nothing was running.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
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

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogAction {
    pub message: String,
    #[serde(default)]
    pub level: LogLevel,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpAction {
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

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
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
                .interval()
                .map(|interval| crate::time::add(now, interval)),
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

/// The API view: the definition with `trigger.status` and the server fields beside it.
impl Serialize for Workflow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct TriggerView<'a> {
            #[serde(flatten)]
            trigger: &'a Trigger,
            status: TriggerStatus,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct View<'a> {
            workflow_id: &'a str,
            trigger: TriggerView<'a>,
            actions: &'a [Action],
            retry: &'a RetryPolicy,
            paused: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            next_run_at: Option<Timestamp>,
            #[serde(skip_serializing_if = "Option::is_none")]
            current_execution_id: Option<uuid::Uuid>,
            version: u64,
            created_at: Timestamp,
            updated_at: Timestamp,
        }
        View {
            workflow_id: &self.spec.workflow_id,
            trigger: TriggerView {
                trigger: &self.spec.trigger,
                status: self.status,
            },
            actions: &self.spec.actions,
            retry: &self.spec.retry,
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
