//! A real local HTTP server that `http-request` actions call. It records every request and
//! answers each path from a script (status, optional delay), then 200 once the script is spent.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
    pub at: Instant,
}

#[derive(Clone, Copy)]
pub struct Reply {
    pub status: u16,
    pub delay: Duration,
}

impl Reply {
    /// 200, once `delay` has passed: a slow receiver.
    pub fn ok_after(delay: Duration) -> Reply {
        Reply { status: 200, delay }
    }
}

impl From<u16> for Reply {
    fn from(status: u16) -> Self {
        Reply {
            status,
            delay: Duration::ZERO,
        }
    }
}

#[derive(Default)]
struct Inner {
    hits: Mutex<Vec<Hit>>,
    scripts: Mutex<HashMap<String, VecDeque<Reply>>>,
    /// Paths that answer with a redirect to another URL.
    redirects: Mutex<HashMap<String, (u16, String)>>,
    /// Paths that answer 200 with this JSON body.
    json_replies: Mutex<HashMap<String, String>>,
    /// Paths whose body arrives one byte at a time: (bytes, pause between them).
    trickles: Mutex<HashMap<String, (usize, Duration)>>,
    /// Requests being answered and the most there ever were at once, by first path segment.
    in_flight: Mutex<HashMap<String, (usize, usize)>>,
    arrived: Notify,
}

#[derive(Clone)]
pub struct Sink {
    inner: Arc<Inner>,
    pub base_url: String,
}

impl Sink {
    pub async fn start() -> Sink {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new()
            .fallback(record)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Sink { inner, base_url }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The next requests to `path` get these replies, in order.
    pub fn script(&self, path: &str, replies: impl IntoIterator<Item = impl Into<Reply>>) {
        let queue = replies.into_iter().map(Into::into).collect();
        self.inner
            .scripts
            .lock()
            .unwrap()
            .insert(path.to_string(), queue);
    }

    /// Requests to `path` are answered `status` with `Location: location`.
    pub fn redirect(&self, path: &str, status: u16, location: &str) {
        let to = (status, location.to_string());
        self.inner.redirects.lock().unwrap().insert(path.into(), to);
    }

    /// Makes `path` answer 200 with `body` as JSON.
    pub fn reply_json(&self, path: &str, body: &serde_json::Value) {
        self.inner
            .json_replies
            .lock()
            .unwrap()
            .insert(path.to_string(), body.to_string());
    }

    /// Requests to `path` get 200 and a body of `bytes` bytes, one every `pause`.
    pub fn trickle(&self, path: &str, bytes: usize, pause: Duration) {
        let slow = (bytes, pause);
        self.inner
            .trickles
            .lock()
            .unwrap()
            .insert(path.into(), slow);
    }

    /// The most requests under `segment` (`/fan` for `/fan/1`, `/fan/2`…) answered at once.
    pub fn most_at_once(&self, segment: &str) -> usize {
        let counts = self.inner.in_flight.lock().unwrap();
        counts.get(segment).map_or(0, |&(_, most)| most)
    }

    pub fn hits(&self, path: &str) -> Vec<Hit> {
        self.inner
            .hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` has had at least `count` requests; panics after `within`.
    pub async fn wait_for(&self, path: &str, count: usize, within: Duration) -> Vec<Hit> {
        let deadline = Instant::now() + within;
        loop {
            let arrived = self.inner.arrived.notified();
            let hits = self.hits(path);
            if hits.len() >= count {
                return hits;
            }
            if tokio::time::timeout_at(deadline.into(), arrived)
                .await
                .is_err()
            {
                panic!(
                    "{path} got {} requests, expected {count} within {within:?}",
                    hits.len()
                );
            }
        }
    }
}

async fn record(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = uri.path().to_string();
    let _answering = Answering::start(&inner, &path);
    inner.hits.lock().unwrap().push(Hit {
        method: method.to_string(),
        path: path.clone(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    });
    inner.arrived.notify_waiters();
    if let Some((status, location)) = inner.redirects.lock().unwrap().get(&path).cloned() {
        let status = StatusCode::from_u16(status).unwrap();
        return (status, [(axum::http::header::LOCATION, location)]).into_response();
    }
    // A scripted reply sets the status and delay; a JSON reply for the path, its body.
    let scripted = inner
        .scripts
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front);
    let json = inner.json_replies.lock().unwrap().get(&path).cloned();
    if let Some(body) = json {
        let reply = scripted.unwrap_or(Reply::from(200));
        tokio::time::sleep(reply.delay).await;
        let status = StatusCode::from_u16(reply.status).unwrap();
        let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
        return (status, json, body).into_response();
    }
    if let Some((bytes, pause)) = inner.trickles.lock().unwrap().get(&path).copied() {
        let stream = futures_util::stream::unfold(0, move |sent| async move {
            if sent == bytes {
                return None;
            }
            tokio::time::sleep(pause).await;
            Some((Ok::<_, std::io::Error>(Bytes::from_static(b"x")), sent + 1))
        });
        let length = [(axum::http::header::CONTENT_LENGTH, bytes.to_string())];
        return (length, axum::body::Body::from_stream(stream)).into_response();
    }
    let reply = scripted.unwrap_or(Reply {
        status: 200,
        delay: Duration::ZERO,
    });
    tokio::time::sleep(reply.delay).await;
    StatusCode::from_u16(reply.status).unwrap().into_response()
}

/// Counts a request as being answered until it is (or its client gave up).
struct Answering {
    inner: Arc<Inner>,
    segment: String,
}

impl Answering {
    fn start(inner: &Arc<Inner>, path: &str) -> Answering {
        let end = path[1..].find('/').map_or(path.len(), |i| i + 1);
        let segment = path[..end].to_string();
        let mut counts = inner.in_flight.lock().unwrap();
        let (now, most) = counts.entry(segment.clone()).or_default();
        *now += 1;
        *most = (*most).max(*now);
        Answering {
            inner: inner.clone(),
            segment,
        }
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        if let Some((now, _)) = self.inner.in_flight.lock().unwrap().get_mut(&self.segment) {
            *now -= 1;
        }
    }
}
