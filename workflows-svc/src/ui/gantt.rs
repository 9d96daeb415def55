//! An execution's timeline as a Gantt chart (SVG): a row per step, a bar from its latest
//! attempt's start to its end (to now while it runs), a fan-out's items packed into lanes (as
//! many lanes as ran at once), and the next attempt's time when a retry is due.

use maud::{html, Markup};
use shared::domain::{Execution, ExecutionStatus};
use shared::time::{to_millis, Timestamp};

const WIDTH: i64 = 880;
const LABEL_W: i64 = 170;
const ROW_H: i64 = 26;
const LANE_H: i64 = 5;
const AXIS_H: i64 = 22;

/// One bar: where it starts and ends, in ms from the execution's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub start: i64,
    pub end: i64,
}

/// Packs spans into as few lanes as keep them apart (earliest start first, first lane free).
fn lanes(spans: &[Span]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by_key(|&i| (spans[i].start, spans[i].end));
    let mut lane_ends: Vec<i64> = Vec::new();
    let mut lane_of = vec![0; spans.len()];
    for i in order {
        let span = spans[i];
        match lane_ends.iter().position(|&end| end <= span.start) {
            Some(lane) => {
                lane_ends[lane] = span.end;
                lane_of[i] = lane;
            }
            None => {
                lane_ends.push(span.end);
                lane_of[i] = lane_ends.len() - 1;
            }
        }
    }
    lane_of
}

/// `names[i]` labels step i.
pub fn svg(execution: &Execution, names: &[String], now: Timestamp) -> Markup {
    let started: Vec<Timestamp> = execution
        .actions
        .iter()
        .filter_map(|a| a.started_at)
        .collect();
    let Some(origin) = execution.started_at.or(started.iter().min().copied()) else {
        return html! { p.muted { "No step has started yet." } };
    };
    let at = |t: Timestamp| to_millis(t) - to_millis(origin);
    // Only a live execution's unfinished bars run to now; an ended one's stop where it ended.
    let open_end = match execution.finished_at {
        Some(finished) if execution.status.is_terminal() => finished,
        _ if execution.status.is_terminal() => execution.updated_at,
        _ => now,
    };
    let running_end = |end: Option<Timestamp>| at(end.unwrap_or(open_end));
    let retry_at = (execution.status == ExecutionStatus::Retrying)
        .then_some(execution.next_attempt_at)
        .flatten();
    let latest = execution
        .actions
        .iter()
        .filter(|a| a.started_at.is_some())
        .map(|a| running_end(a.finished_at))
        .chain(retry_at.map(at))
        .chain(execution.finished_at.map(at))
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = |ms: i64| LABEL_W + ms.clamp(0, latest) * (WIDTH - LABEL_W - 10) / latest;

    let mut rows = Vec::new();
    let mut y = AXIS_H;
    for (i, action) in execution.actions.iter().enumerate() {
        let item_spans: Vec<(Span, &str)> = action
            .items
            .iter()
            .filter_map(|item| {
                let start = at(item.started_at?);
                let span = Span {
                    start,
                    end: running_end(item.finished_at).max(start),
                };
                Some((span, item.status.as_str()))
            })
            .collect();
        let item_lanes = lanes(&item_spans.iter().map(|(s, _)| *s).collect::<Vec<_>>());
        let lane_count = item_lanes.iter().max().map_or(0, |l| l + 1) as i64;
        let height = ROW_H + lane_count * (LANE_H + 1);
        let status = action.status.as_str();
        let bar = action.started_at.map(|start| {
            let start = at(start);
            (
                scale(start),
                scale(running_end(action.finished_at).max(start)),
            )
        });
        rows.push(html! {
            g class={"row s-" (status)} {
                text.label x="4" y=(y + 17) { (names.get(i).map_or("", String::as_str)) }
                @for earlier in &action.earlier_attempts {
                    @let (x1, x2) = (scale(at(earlier.started_at)), scale(at(earlier.finished_at)));
                    rect.earlier x=(x1) y=(y + 5) width=((x2 - x1).max(2)) height=(ROW_H - 10) rx="3" {
                        title { "attempt " (earlier.attempt) " failed" @if let Some(e) = &earlier.error { ": " (e) } }
                    }
                }
                @if let Some((x1, x2)) = bar {
                    rect.bar x=(x1) y=(y + 5) width=((x2 - x1).max(2)) height=(ROW_H - 10) rx="3" {
                        title { (names.get(i).map_or("", String::as_str)) ": " (status) ", attempt " (action.attempts) }
                    }
                    @let (note_x, anchor) = if x2 > WIDTH - 90 { (x1 - 4, "end") } else { (x2 + 4, "start") };
                    text.note x=(note_x) y=(y + 17) text-anchor=(anchor) {
                        (status)
                        @if action.attempts > 1 { " ×" (action.attempts) }
                    }
                } @else {
                    text.note x=(LABEL_W) y=(y + 17) { (status) }
                }
                @for ((span, item_status), lane) in item_spans.iter().zip(&item_lanes) {
                    @let (x1, x2) = (scale(span.start), scale(span.end));
                    rect class={"lane s-" (item_status)} x=(x1) y=(y + ROW_H + *lane as i64 * (LANE_H + 1))
                        width=((x2 - x1).max(1)) height=(LANE_H) {}
                }
            }
        });
        y += height;
    }
    let height = y + 6;
    let ticks: Vec<(i64, f64)> = (0..=4)
        .map(|k| (latest * k / 4, latest as f64 * k as f64 / 4.0))
        .collect();
    html! {
        svg.gantt role="img" aria-labelledby="gantt-title"
            viewBox={"0 0 " (WIDTH) " " (height)} preserveAspectRatio="xMinYMin meet" {
            title #gantt-title { "Timeline of the steps of this execution, over " (latest) " ms" }
            @for (at_ms, label_ms) in &ticks {
                line.tick x1=(scale(*at_ms)) x2=(scale(*at_ms)) y1=(AXIS_H - 4) y2=(height) {}
                text.axis x=(scale(*at_ms)) y="12" text-anchor=(if *at_ms == latest { "end" } else { "middle" }) { (tick_label(*label_ms)) }
            }
            @for row in rows { (row) }
            @if let Some(retry) = retry_at {
                line.retry x1=(scale(at(retry))) x2=(scale(at(retry))) y1=(AXIS_H - 4) y2=(height) {}
                text.retry-label x=(scale(at(retry)) - 4) y=(AXIS_H + 12) text-anchor="end" { "next attempt" }
            }
        }
    }
}

fn tick_label(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 10_000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_that_overlap_take_separate_lanes_and_later_ones_reuse_a_free_one() {
        let spans = [
            Span { start: 0, end: 10 },
            Span { start: 2, end: 8 },
            Span { start: 10, end: 12 },
            Span { start: 9, end: 20 },
        ];
        assert_eq!(lanes(&spans), [0, 1, 0, 1]);
        assert!(lanes(&[]).is_empty());
    }
}
