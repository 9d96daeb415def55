//! The frame every dashboard page shares (head, navigation, the live-update hook) and the small
//! pieces the pages draw alike: status badges, instants and durations.

use maud::{html, Markup, DOCTYPE};
use shared::time::Timestamp;

/// What a page is, beside its body.
pub struct Frame<'a> {
    pub title: &'a str,
    /// The CSRF token the page's requests send back: only a signed-in viewer has one (and a
    /// sign-out button); `None` when no token is configured.
    pub csrf: Option<&'a str>,
    /// Where the page's live regions are streamed from (Server-Sent Events).
    pub live: Option<&'a str>,
}

pub fn page(frame: &Frame, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(csrf) = frame.csrf {
                    meta name="csrf-token" content=(csrf);
                }
                title { (frame.title) " · Workflow Automation" }
                // No icon: spares the browser a request that would only find nothing.
                link rel="icon" href="data:,";
                link rel="stylesheet" href=(super::assets::CSS_PATH);
                script src=(super::assets::JS_PATH) defer {}
            }
            body data-live=[frame.live] {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    nav aria-label="Main" {
                        a.brand href="/ui" { "Workflow Automation" }
                        a href="/ui" { "Workflows" }
                        a href="/openapi.json" { "API" }
                        @if frame.csrf.is_some() {
                            button.link type="button" data-sign-out { "Sign out" }
                        }
                    }
                    p.conn role="status" aria-live="polite" data-connection {}
                }
                main #main { (body) }
                div.toast role="status" aria-live="polite" data-toast {}
            }
        }
    }
}

/// A status as a word in a coloured badge (the word carries it: colour is never alone).
pub fn badge(status: &str) -> Markup {
    html! { span class={"badge s-" (status)} { (status) } }
}

/// A workflow's state as the pages show it: paused, or its trigger status.
pub fn workflow_state(workflow: &shared::domain::Workflow) -> &'static str {
    if workflow.paused {
        "paused"
    } else {
        workflow.status.as_str()
    }
}

/// An instant, written out in UTC; the script rewrites the text as "in 5s" or "3m ago".
pub fn instant(at: Option<Timestamp>) -> Markup {
    match at {
        None => html! { span.muted { "—" } },
        Some(at) => html! {
            time datetime=(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                title=(at.format("%Y-%m-%d %H:%M:%S%.3f UTC")) data-relative {
                (at.format("%Y-%m-%d %H:%M:%S UTC"))
            }
        },
    }
}

/// An instant the script counts down to each second ("retry in 4s"). The server writes the
/// instant itself, which does not change from one live update to the next.
pub fn countdown(label: &str, at: Timestamp) -> Markup {
    html! {
        time datetime=(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            data-countdown=(label) {
            (label) " at " (at.format("%H:%M:%S UTC"))
        }
    }
}

pub fn duration_ms(ms: Option<u64>) -> Markup {
    match ms {
        None => html! { span.muted { "—" } },
        Some(ms) if ms < 1_000 => html! { (ms) " ms" },
        Some(ms) if ms < 60_000 => html! { (format!("{:.1}", ms as f64 / 1000.0)) " s" },
        Some(ms) => html! { (format!("{}m {}s", ms / 60_000, (ms % 60_000) / 1000)) },
    }
}

/// A region that scrolls on its own when wider than the screen, reachable by keyboard.
pub fn scroll_region(label: &str, content: Markup) -> Markup {
    html! { div.scroll tabindex="0" role="region" aria-label=(label) { (content) } }
}

/// A listing: a table with `columns` as its head and `rows` as its body, in a scroll region
/// named `label`; `compact` for the denser item tables.
pub fn list_table(label: &str, columns: &[&str], compact: bool, rows: Markup) -> Markup {
    scroll_region(
        label,
        html! {
            table.list.compact[compact] {
                thead { tr { @for column in columns { th scope="col" { (column) } } } }
                tbody { (rows) }
            }
        },
    )
}

/// JSON, indented, for reading (outputs, inputs, definitions).
pub fn json_block(value: &serde_json::Value, label: &str) -> Markup {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    html! { pre.json tabindex="0" aria-label=(label) { (text) } }
}

/// A message in place of a page: bad filter, unknown id.
pub fn notice(heading: &str, sentence: &str) -> Markup {
    html! {
        h1 { (heading) }
        p.notice role="alert" { (sentence) }
        p { a href="/ui" { "Back to the workflows" } }
    }
}

/// At most `max` characters, an ellipsis marking a cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}
