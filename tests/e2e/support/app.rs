//! The all-in-one product started in the test's process, and a client for its API.

use super::{Transport, SOON};
use reqwest::StatusCode;
use serde_json::Value;
use shared::Config;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A client of one running product's API.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

pub struct TestApp {
    api: Api,
    /// Holds the SQLite file; removed when the app is dropped.
    _dir: tempfile::TempDir,
    stop: CancellationToken,
}

impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Settings every test process uses: a private SQLite file, fast polls and short leases.
pub fn base_settings(
    dir: &std::path::Path,
    transport: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let mut settings = vec![
        (
            "DATABASE_URL".to_string(),
            format!("sqlite://{}", dir.join("wfa.db").display()),
        ),
        ("HTTP_ADDR".to_string(), "127.0.0.1:0".to_string()),
        ("POLL_INTERVAL".to_string(), "50ms".to_string()),
        ("LEASE_DURATION".to_string(), "2s".to_string()),
        ("REQUEUE_AFTER".to_string(), "2s".to_string()),
        ("SHUTDOWN_GRACE".to_string(), "2s".to_string()),
    ];
    settings.extend(transport);
    settings
}

impl TestApp {
    /// Starts the product on `transport`; `None` when that transport is unavailable here.
    pub async fn spawn(transport: Transport, test: &str) -> Option<TestApp> {
        Self::spawn_with(transport, test, &[]).await
    }

    /// As [`TestApp::spawn`], with extra settings.
    pub async fn spawn_with(
        transport: Transport,
        test: &str,
        extra: &[(&str, &str)],
    ) -> Option<TestApp> {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = base_settings(dir.path(), transport.settings(test)?);
        settings.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = Config::from_values(&settings.into_iter().collect::<HashMap<_, _>>()).unwrap();
        // Logs show only for failing tests (the runner captures them).
        shared::telemetry::init(&config.log_format);
        let listener = wfa::bind(&config).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        tokio::spawn(async move { wfa::run_all(config, listener, shutdown).await.unwrap() });
        let app = TestApp {
            api: Api::new(base),
            _dir: dir,
            stop,
        };
        app.wait_ready().await;
        Some(app)
    }
}

impl Api {
    pub fn new(base: String) -> Api {
        Api {
            base,
            // Never through a proxy from the environment: the API is on loopback.
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    /// A client that sends `token` as its bearer token on every request.
    pub fn with_token(base: String, token: &str) -> Api {
        let mut headers = reqwest::header::HeaderMap::new();
        let bearer = format!("Bearer {token}").parse().unwrap();
        headers.insert(reqwest::header::AUTHORIZATION, bearer);
        Api {
            base,
            http: reqwest::Client::builder()
                .no_proxy()
                .default_headers(headers)
                .build()
                .unwrap(),
        }
    }

    pub async fn wait_ready(&self) {
        self.wait_ready_at("/readyz").await
    }

    /// Waits until `path` answers 200.
    pub async fn wait_ready_at(&self, path: &str) {
        let deadline = Instant::now() + SOON;
        loop {
            if let Ok(r) = self.http.get(format!("{}{path}", self.base)).send().await {
                if r.status() == StatusCode::OK {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} did not become ready",
                self.base
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(self.http.put(format!("{}{path}", self.base)).json(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> StatusCode {
        self.http
            .delete(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .status()
    }

    pub async fn create(&self, workflow: &Value) -> Value {
        let (status, body) = self.post("/workflows", workflow).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Triggers and expects 202; returns the execution id.
    pub async fn trigger(&self, workflow_id: &str) -> String {
        let (status, body) = self
            .post(&format!("/workflows/{workflow_id}/trigger"), &Value::Null)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        body["executionId"].as_str().unwrap().to_string()
    }

    /// Creates `workflow` (manual), triggers it once and returns the execution once it ended.
    pub async fn run_to_end(&self, workflow: &Value) -> Value {
        let id = workflow["workflowId"].as_str().unwrap().to_string();
        self.create(workflow).await;
        self.wait_terminal(&self.trigger(&id).await).await
    }

    pub async fn execution_status(&self, id: &str) -> String {
        let (_, execution) = self.get(&format!("/executions/{id}")).await;
        execution["status"].as_str().unwrap_or_default().to_string()
    }

    /// Polls the execution until it ends; panics if it does not within [`SOON`].
    pub async fn wait_terminal(&self, id: &str) -> Value {
        self.wait_terminal_within(id, SOON).await
    }

    /// As [`Api::wait_terminal`], with its own patience.
    pub async fn wait_terminal_within(&self, id: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (status, e) = self.get(&format!("/executions/{id}")).await;
            assert_eq!(status, StatusCode::OK, "{e}");
            if has_ended(&e) {
                return e;
            }
            assert!(Instant::now() < deadline, "execution {id} did not end: {e}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the workflow's `trigger.status` is `status`: on MongoDB it follows its
    /// execution's end a moment later (two documents, no transaction).
    pub async fn wait_trigger_status(&self, workflow_id: &str, status: &str) -> Value {
        let deadline = Instant::now() + SOON;
        loop {
            let (_, workflow) = self.get(&format!("/workflows/{workflow_id}")).await;
            if workflow["trigger"]["status"] == status {
                return workflow;
            }
            assert!(
                Instant::now() < deadline,
                "{workflow_id} never became {status}: {workflow}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The workflow's executions once every one of them has ended.
    pub async fn settled_executions_of(&self, workflow_id: &str) -> Vec<Value> {
        let deadline = Instant::now() + SOON;
        loop {
            let executions = self.executions_of(workflow_id).await;
            if executions.iter().all(has_ended) {
                return executions;
            }
            assert!(
                Instant::now() < deadline,
                "executions of {workflow_id} did not end: {executions:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn executions_of(&self, workflow_id: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!("/workflows/{workflow_id}/executions?limit=500"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["items"].as_array().unwrap().clone()
    }
}

/// Whether an execution (as the API shows it) is in a terminal status.
fn has_ended(execution: &Value) -> bool {
    matches!(
        execution["status"].as_str(),
        Some("succeeded" | "failed" | "cancelled")
    )
}
