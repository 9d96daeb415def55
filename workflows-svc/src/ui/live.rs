//! Live regions over Server-Sent Events: the page's fragments are rendered again every tick
//! and sent, as `{"id": …, "html": …}` pairs, only when they changed. Rendering on the server
//! keeps one way of drawing each region; a store in another process is seen as soon as a tick
//! reads it. A stream ends when what it shows is gone (`gone`) or when the server shuts down
//! (so draining does not wait for it); the browser's EventSource reconnects after the latter.

use super::UiError;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use maud::Markup;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

pub type Fragments = Vec<(&'static str, Markup)>;

pub fn stream<F, Fut>(closing: CancellationToken, every: Duration, render: F) -> Response
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Fragments, UiError>> + Send,
{
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let sent: HashMap<&'static str, String> = HashMap::new();
    let events = stream::unfold(
        (render, sent, ticks, false, false),
        |(render, mut sent, mut ticks, mut failing, gone)| async move {
            if gone {
                return None;
            }
            loop {
                ticks.tick().await;
                let event = match render().await {
                    Ok(fragments) => {
                        failing = false;
                        changed(&mut sent, fragments).map(|changes| {
                            Event::default()
                                .event("fragments")
                                .data(serde_json::Value::Array(changes).to_string())
                        })
                    }
                    // Deleted, say: nothing more will come.
                    Err(err) if err.status == axum::http::StatusCode::NOT_FOUND => {
                        let event = Event::default().event("gone").data(err.sentence);
                        return Some((Ok(event), (render, sent, ticks, failing, true)));
                    }
                    // Said once, not every tick, until the store answers again.
                    Err(err) if !failing => {
                        failing = true;
                        Some(Event::default().event("trouble").data(err.sentence))
                    }
                    Err(_) => None,
                };
                if let Some(event) = event {
                    return Some((
                        Ok::<_, Infallible>(event),
                        (render, sent, ticks, failing, false),
                    ));
                }
            }
        },
    )
    .take_until(closing.cancelled_owned());
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The fragments that differ from what was sent last, remembered as sent.
fn changed(
    sent: &mut HashMap<&'static str, String>,
    fragments: Fragments,
) -> Option<Vec<serde_json::Value>> {
    let changes: Vec<serde_json::Value> = fragments
        .into_iter()
        .filter_map(|(id, markup)| {
            let html = markup.into_string();
            if sent.get(id) == Some(&html) {
                return None;
            }
            sent.insert(id, html.clone());
            Some(serde_json::json!({ "id": id, "html": html }))
        })
        .collect();
    (!changes.is_empty()).then_some(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use maud::html;

    #[test]
    fn only_what_changed_is_sent_again() {
        let mut sent = HashMap::new();
        let first = changed(&mut sent, vec![("a", html! { "1" }), ("b", html! { "x" })]);
        assert_eq!(first.map(|c| c.len()), Some(2));
        assert_eq!(
            changed(&mut sent, vec![("a", html! { "1" }), ("b", html! { "x" })]),
            None
        );
        let second = changed(&mut sent, vec![("a", html! { "2" }), ("b", html! { "x" })]).unwrap();
        assert_eq!(second, [serde_json::json!({"id": "a", "html": "2"})]);
    }
}
