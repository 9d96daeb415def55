//! The domain model of DESIGN §3: workflows, executions, and the pure rules around them.

pub mod backoff;
pub mod duration;
pub mod execution;
pub mod graph;
pub mod ids;
pub mod inputs;
pub mod rate_limit;
pub mod request;
pub mod schedule;
pub mod service;
pub mod slots;
pub mod task;
pub mod template;
pub mod transition;
pub mod validation;
pub mod workflow;

pub use duration::HumanDuration;
pub use execution::{
    ActionResult, ActionStatus, EarlierAttempt, Execution, ExecutionStatus, ItemResult, Lease,
    Reason,
};
pub use rate_limit::{Admission, RateLimit, RateWindow};
pub use request::ExecutionRequest;
pub use service::{Service, ServiceField, ServiceSpec};
pub use transition::Transition;
pub use validation::{decode_workflow_spec, SpecError};
pub use workflow::{
    Action, CatchUp, ExpectStatus, ForEach, HttpAction, LogAction, LogLevel, Overlap, RetryPolicy,
    ServiceAction, StepDefaults, SwitchAction, Trigger, TriggerStatus, Workflow, WorkflowSpec,
};
