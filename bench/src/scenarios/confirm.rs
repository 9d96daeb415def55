//! Asks the API how executions ended. The sink proves an action ran; only the store says
//! the execution was recorded `succeeded`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{fan_out, Queue};
use crate::api::{Api, Tally};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Verdicts {
    /// Final status as the API reports it, e.g. {"succeeded": 10000}.
    pub statuses: BTreeMap<String, u64>,
    pub fetch_errors: Tally,
}

impl Verdicts {
    /// "10000 succeeded" or e.g. "9990 succeeded, 10 running, fetch errors 404×2".
    pub fn brief(&self) -> String {
        let mut parts: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        if self.fetch_errors.total() > 0 {
            parts.push(format!("fetch errors {}", self.fetch_errors.brief()));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

/// Fetches every execution, re-polling those not yet terminal until `settle` has passed.
pub async fn confirm(api: &Api, ids: Vec<String>, workers: usize, settle: Duration) -> Verdicts {
    let deadline = Instant::now() + settle;
    let ids: Arc<[String]> = ids.into();
    let queue = Queue::new(ids.len());
    let per_worker = fan_out(workers, |_| {
        let (api, ids, queue) = (api.clone(), ids.clone(), queue.clone());
        async move {
            let mut v = Verdicts::default();
            while let Some(n) = queue.take() {
                loop {
                    match api.execution(&ids[n]).await {
                        Ok(e) if e.is_terminal() || Instant::now() > deadline => {
                            *v.statuses.entry(e.status).or_default() += 1;
                            break;
                        }
                        Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                        Err(f) => {
                            v.fetch_errors.add(&f);
                            break;
                        }
                    }
                }
            }
            v
        }
    })
    .await;
    let mut all = Verdicts::default();
    for v in per_worker {
        for (s, n) in v.statuses {
            *all.statuses.entry(s).or_default() += n;
        }
        all.fetch_errors.merge(v.fetch_errors);
    }
    all
}
