//! The API's HTTP client for the commands, and how a failure is told and exited with.

use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub struct Client {
    base: Url,
    http: reqwest::Client,
    token: Option<String>,
}

/// Why a command stopped; each kind has its exit code (see the module above).
#[derive(Debug)]
pub enum Failure {
    /// The server refused the request: its error code and sentence.
    Refused { status: StatusCode, message: String },
    /// A file could not be read or parsed.
    BadInput(String),
    /// The server could not be reached, or answered with a server error.
    Unreachable(String),
    /// `--wait` ran out.
    TimedOut(String),
}

impl Failure {
    pub fn report(self) -> ExitCode {
        let (code, text) = match self {
            Failure::Refused { status, message } => {
                (2, format!("{message} (HTTP {})", status.as_u16()))
            }
            Failure::BadInput(m) => (2, m),
            Failure::Unreachable(m) => (3, m),
            Failure::TimedOut(m) => (1, m),
        };
        eprintln!("wfa: {text}");
        ExitCode::from(code)
    }
}

impl Client {
    pub fn new(server: &str, token: Option<&str>) -> Result<Client, Failure> {
        let base = Url::parse(server)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                Failure::BadInput(format!("--server `{server}` is not an http(s) URL"))
            })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Failure::Unreachable(format!("cannot build an HTTP client: {e}")))?;
        Ok(Client {
            base,
            http,
            token: token.map(str::to_string),
        })
    }

    /// The URL of path `segments` (each percent-encoded) under the base.
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http URL has a path")
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Sends a request; a 2xx answer's JSON body (null when empty), or the failure.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<(StatusCode, Value), Failure> {
        let mut request = self.http.request(method.clone(), url.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Unreachable(format!("{method} {url}: {e}")))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok((status, value));
        }
        let message = value["message"]
            .as_str()
            .map_or_else(|| format!("{method} {url} answered {text}"), str::to_string);
        if status.is_server_error() {
            return Err(Failure::Unreachable(format!(
                "{message} (HTTP {})",
                status.as_u16()
            )));
        }
        Err(Failure::Refused { status, message })
    }

    pub async fn get(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Value, Failure> {
        let url = self.url(segments, query);
        Ok(self.send(Method::GET, url, None, &[]).await?.1)
    }

    pub async fn post(&self, segments: &[&str], body: Option<&Value>) -> Result<Value, Failure> {
        let url = self.url(segments, &[]);
        Ok(self.send(Method::POST, url, body, &[]).await?.1)
    }

    /// Replaces a workflow whatever its version (`If-Match: *`).
    pub async fn replace(&self, segments: &[&str], body: &Value) -> Result<Value, Failure> {
        let url = self.url(segments, &[]);
        let headers = [("if-match", "*")];
        Ok(self.send(Method::PUT, url, Some(body), &headers).await?.1)
    }

    pub async fn delete(&self, segments: &[&str]) -> Result<(), Failure> {
        let url = self.url(segments, &[]);
        self.send(Method::DELETE, url, None, &[]).await.map(|_| ())
    }

    pub async fn trigger(&self, id: &str, idempotency_key: Option<&str>) -> Result<Value, Failure> {
        let url = self.url(&["workflows", id, "trigger"], &[]);
        let headers: Vec<(&str, &str)> = idempotency_key
            .map(|key| ("idempotency-key", key))
            .into_iter()
            .collect();
        Ok(self.send(Method::POST, url, None, &headers).await?.1)
    }

    /// Every item of a listing, following `nextCursor`.
    pub async fn all_pages(
        &self,
        segments: &[&str],
        mut query: Vec<(&str, String)>,
    ) -> Result<Vec<Value>, Failure> {
        let mut items = Vec::new();
        query.push(("limit", "500".to_string()));
        loop {
            let page = self.get(segments, &query).await?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["nextCursor"].as_str() {
                Some(cursor) => {
                    query.retain(|(k, _)| *k != "cursor");
                    query.push(("cursor", cursor.to_string()));
                }
                None => return Ok(items),
            }
        }
    }

    /// Polls an execution until it has ended.
    pub async fn wait_for_end(
        &self,
        execution_id: &str,
        timeout: Duration,
    ) -> Result<Value, Failure> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(50);
        loop {
            let execution = self.get(&["executions", execution_id], &[]).await?;
            let ended = matches!(
                execution["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            );
            if ended {
                return Ok(execution);
            }
            if Instant::now() >= deadline {
                return Err(Failure::TimedOut(format!(
                    "execution {execution_id} is still {} after {}",
                    execution["status"].as_str().unwrap_or("unknown"),
                    humantime::format_duration(timeout)
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }
}
