//! A thin client for the product's public HTTP API, and a tally of what went wrong.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The one client configuration used for the product and for the bare loop, so the limit
/// row measures the same client stack. HTTP/1.1, keep-alive pool sized for the concurrency.
pub fn http_client(concurrency: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(concurrency * 2)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client with static configuration")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workflow {
    pub created_at: DateTime<Utc>,
    pub next_run_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    pub execution_id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    pub reason: String,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub status: String,
    /// When the product recorded it (for a periodic slot: the scheduler's pass that fired it).
    pub created_at: Option<DateTime<Utc>>,
    /// When a runner claimed it.
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub actions: Vec<ActionTimes>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionTimes {
    pub started_at: Option<DateTime<Utc>>,
}

impl Execution {
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "succeeded" | "failed" | "cancelled")
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

/// Why a call did not give the expected answer.
#[derive(Debug, Clone)]
pub struct Failure {
    /// HTTP status, or `transport` / `bad-json`.
    pub kind: String,
    pub detail: String,
}

impl Failure {
    pub fn is_status(&self, code: u16) -> bool {
        self.kind == code.to_string()
    }
}

/// Failures counted by kind, with a few examples to quote in the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    pub by_kind: BTreeMap<String, u64>,
    pub examples: Vec<String>,
}

impl Tally {
    pub fn add(&mut self, f: &Failure) {
        *self.by_kind.entry(f.kind.clone()).or_default() += 1;
        if self.examples.len() < 3 {
            self.examples
                .push(format!("{}: {}", f.kind, truncate(&f.detail, 200)));
        }
    }

    pub fn merge(&mut self, other: Tally) {
        for (k, n) in other.by_kind {
            *self.by_kind.entry(k).or_default() += n;
        }
        for e in other.examples {
            if self.examples.len() < 3 {
                self.examples.push(e);
            }
        }
    }

    pub fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }

    /// "0" or e.g. "409×12 500×3".
    pub fn brief(&self) -> String {
        if self.by_kind.is_empty() {
            return "0".into();
        }
        self.by_kind
            .iter()
            .map(|(k, n)| format!("{k}×{n}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    pub fn new(http: reqwest::Client, base: String) -> Api {
        Api { http, base }
    }

    /// The product's address, for pages outside the JSON API (the dashboard).
    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn create(&self, body: &Value) -> Result<Workflow, Failure> {
        let req = self
            .http
            .post(format!("{}/workflows", self.base))
            .json(body);
        call(req, 201).await
    }

    /// A POST with a JSON body, answered `want` with JSON.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
        want: u16,
    ) -> Result<T, Failure> {
        call(
            self.http.post(format!("{}{path}", self.base)).json(body),
            want,
        )
        .await
    }

    pub async fn trigger(&self, workflow_id: &str) -> Result<Accepted, Failure> {
        let url = format!("{}/workflows/{workflow_id}/trigger", self.base);
        call(self.http.post(url), 202).await
    }

    pub async fn execution(&self, execution_id: &str) -> Result<Execution, Failure> {
        let url = format!("{}/executions/{execution_id}", self.base);
        call(self.http.get(url), 200).await
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> Result<String, Failure> {
        let failure = |e: reqwest::Error| Failure {
            kind: "transport".into(),
            detail: format!("{e:#}"),
        };
        let resp = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .map_err(failure)?;
        if resp.status() != 200 {
            return Err(Failure {
                kind: resp.status().as_u16().to_string(),
                detail: "GET /metrics".into(),
            });
        }
        resp.text().await.map_err(failure)
    }

    /// Every execution of a workflow, following the cursor.
    pub async fn executions_of(&self, workflow_id: &str) -> Result<Vec<Execution>, Failure> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut req = self
                .http
                .get(format!("{}/workflows/{workflow_id}/executions", self.base))
                .query(&[("limit", "100")]);
            if let Some(c) = &cursor {
                req = req.query(&[("cursor", c)]);
            }
            let page: Page<Execution> = call(req, 200).await?;
            all.extend(page.items);
            match page.next_cursor {
                Some(c) if Some(&c) != cursor.as_ref() => cursor = Some(c),
                _ => return Ok(all),
            }
        }
    }
}

async fn call<T: DeserializeOwned>(req: reqwest::RequestBuilder, want: u16) -> Result<T, Failure> {
    let resp = req.send().await.map_err(|e| Failure {
        kind: "transport".into(),
        detail: format!("{e:#}"),
    })?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(|e| Failure {
        kind: "transport".into(),
        detail: format!("reading body: {e:#}"),
    })?;
    if status != want {
        return Err(Failure {
            kind: status.to_string(),
            detail: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| Failure {
        kind: "bad-json".into(),
        detail: format!("{e}: {}", String::from_utf8_lossy(&bytes)),
    })
}
