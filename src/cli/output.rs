//! What the commands print: JSON as is, or a table for people.

use serde_json::Value;

pub fn json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("a JSON value serialises")
    );
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

fn table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
}

fn trigger(t: &Value) -> String {
    match t["type"].as_str() {
        Some("periodic") => format!("every {}", text(&t["interval"])),
        Some("cron") => format!("cron {} {}", text(&t["expression"]), text(&t["timezone"])),
        Some(other) => other.to_string(),
        None => "-".to_string(),
    }
}

pub fn workflows(items: &[Value]) {
    let rows = items
        .iter()
        .map(|w| {
            vec![
                text(&w["workflowId"]),
                trigger(&w["trigger"]),
                text(&w["trigger"]["status"]),
                text(&w["paused"]),
                text(&w["nextRunAt"]),
            ]
        })
        .collect();
    table(
        &["WORKFLOW", "TRIGGER", "STATUS", "PAUSED", "NEXT RUN"],
        rows,
    );
}

pub fn executions(items: &[Value]) {
    let rows = items
        .iter()
        .map(|e| {
            vec![
                text(&e["executionId"]),
                text(&e["status"]),
                text(&e["reason"]),
                format!("{}/{}", text(&e["attempt"]), text(&e["maxAttempts"])),
                text(&e["scheduledFor"]),
                text(&e["error"]),
            ]
        })
        .collect();
    table(
        &[
            "EXECUTION",
            "STATUS",
            "REASON",
            "ATTEMPT",
            "SCHEDULED FOR",
            "ERROR",
        ],
        rows,
    );
}

/// An ended execution: its outcome, then one line per action.
pub fn execution(e: &Value) {
    println!(
        "execution {} {} (attempt {} of {})",
        text(&e["executionId"]),
        text(&e["status"]),
        text(&e["attempt"]),
        text(&e["maxAttempts"])
    );
    if let Some(error) = e["error"].as_str() {
        println!("  error: {error}");
    }
    for (i, action) in e["actions"].as_array().into_iter().flatten().enumerate() {
        let mut line = format!(
            "  {i}: {} {}",
            text(&action["type"]),
            text(&action["status"])
        );
        if let Some(ms) = action["durationMs"].as_u64() {
            line.push_str(&format!(" in {ms} ms"));
        }
        if let Some(error) = action["error"].as_str() {
            line.push_str(&format!(": {error}"));
        }
        println!("{line}");
    }
}
