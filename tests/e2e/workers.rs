//! Issue 13 (workers over HTTP): steps of a worker service become tasks in a queue; workers
//! in any language poll for them, ack or nack; a lapsed lease redelivers the task as the next
//! attempt; an execution waiting for workers holds no runner.

use crate::support::{Sink, TestApp, Transport};
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, Command};

async fn register_thumbnails(app: &TestApp) {
    let (status, body) = app
        .post(
            "/services",
            &json!({"name": "thumbs", "queue": "thumbnails",
                    "inputs": [{"name": "image", "type": "string"}, {"name": "width", "type": "int"},
                               {"name": "behave", "type": "string", "required": false}],
                    "outputs": [{"name": "thumbnail", "type": "string"}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// `examples/worker.py`, its JSON-lines events readable.
fn worker(app: &TestApp, id: &str, extra: &[&str]) -> Child {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/worker.py");
    Command::new("python3")
        .arg(script)
        .args(["--api", &app.base, "--worker-id", id, "--lease", "3"])
        .args(extra)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs the example worker")
}

/// Reads the worker's events until one named `event`; returns it.
async fn event_of(child: &mut Child, event: &str) -> Value {
    let stdout = child.stdout.as_mut().unwrap();
    next_event(&mut BufReader::new(stdout).lines(), event).await
}

/// Reads JSON-lines events (an example worker's) until one named `event`; returns it.
pub(crate) async fn next_event<R: AsyncBufRead + Unpin>(
    lines: &mut Lines<R>,
    event: &str,
) -> Value {
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let value: Value = serde_json::from_str(&line).unwrap();
            if value["event"] == event {
                return value;
            }
        }
        panic!("the worker ended before `{event}`")
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .unwrap_or_else(|_| panic!("no `{event}` from the worker within 60s"))
}

/// The thumbnails service and a workflow fanning it out over 200 images (fewer on the MongoDB
/// stand-in), triggered: the execution's id and the image count.
pub(crate) async fn trigger_thumbnail_fan_out(
    app: &TestApp,
    transport: Transport,
) -> (String, usize) {
    register_thumbnails(app).await;
    app.create(&json!({
        "workflowId": "thumbnails", "trigger": {"type": "manual"},
        "inputs": {"images": {"type": "array", "required": true}},
        "retry": {"maxAttempts": 5, "initialDelay": "100ms"},
        "actions": [{"id": "thumb", "type": "service", "service": "thumbs",
                     "forEach": {"items": "inputs.images", "concurrency": 100},
                     "input": {"image": "{{ item }}", "width": 128}}],
        "outputs": {"thumbnails": "{{ steps.thumb.output | map(attribute='thumbnail') | list }}"}
    }))
    .await;
    // The MongoDB stand-in (a single-threaded Python server) stalls under 200 at once; a real
    // mongod (MONGODB_URI) takes the full count.
    let count = match (transport, std::env::var("WFA_MONGO_IS_STAND_IN").as_deref()) {
        (Transport::MongoKafka, Ok("1")) => 12,
        _ => 200,
    };
    let images: Vec<String> = (0..count).map(|i| format!("img{i}.png")).collect();
    let (status, accepted) = app
        .post(
            "/workflows/thumbnails/trigger",
            &json!({"input": {"images": images}}),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    (accepted["executionId"].as_str().unwrap().to_string(), count)
}

async fn two_workers_share_a_queue_and_a_killed_ones_task_comes_back(transport: Transport) {
    let Some(app) = TestApp::spawn(
        transport,
        "two_workers_share_a_queue_and_a_killed_ones_task_comes_back",
    )
    .await
    else {
        return;
    };
    let (id, count) = trigger_thumbnail_fan_out(&app, transport).await;
    let id = id.as_str();

    let mut doomed = worker(&app, "w1", &["--hang-after", "3"]);
    let mut steady = worker(&app, "w2", &["--delay", "0.002"]);
    let hung = event_of(&mut doomed, "hung").await;
    doomed.kill().await.unwrap();
    let execution = app.wait_terminal_within(id, Duration::from_secs(60)).await;
    steady.kill().await.unwrap();

    assert_eq!(execution["status"], "succeeded", "{execution}");
    let expected: Vec<String> = (0..count).map(|i| format!("img{i}-128.png")).collect();
    assert_eq!(execution["output"], json!({"thumbnails": expected}));
    let step = &execution["actions"][0];
    let items = step["items"].as_array().unwrap();
    assert_eq!(items.len(), count);
    for item in items {
        let completed = item["workers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["outcome"] == "completed")
            .count();
        assert_eq!(completed, 1, "each task completes once: {item}");
    }
    // The hung worker's task: its lease lapsed under w1, then w2 did it as attempt 2.
    let hung_task = &items
        .iter()
        .find(|i| i["taskId"] == hung["taskId"])
        .expect("the hung task is an item's")["workers"];
    assert_eq!(hung_task[0]["workerId"], "w1");
    assert_eq!(hung_task[0]["outcome"], "lapsed");
    assert_eq!(hung_task[1]["attempt"], 2);
    assert_eq!(hung_task[1]["workerId"], "w2");
    assert_eq!(hung_task[1]["outcome"], "completed");
    for name in ["w1", "w2"] {
        let by = items
            .iter()
            .filter(|i| {
                i["workers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|w| w["workerId"] == name && w["outcome"] == "completed")
            })
            .count();
        assert!(
            by > 0,
            "both workers took work from the one queue ({name}: {by})"
        );
    }
}

async fn nacks_follow_the_steps_retry_policy(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "nacks_follow_the_steps_retry_policy").await else {
        return;
    };
    register_thumbnails(&app).await;
    let workflow = |id: &str, behave: &str| {
        json!({"workflowId": id, "trigger": {"type": "manual"},
               "actions": [{"id": "thumb", "type": "service", "service": "thumbs",
                            "retry": {"maxAttempts": 2, "initialDelay": "200ms", "jitter": 0.0},
                            "input": {"image": "a.png", "width": 64, "behave": behave}}]})
    };
    // The protocol by hand: poll, nack, a refused report, the retry after the backoff.
    app.create(&workflow("flaky", "flaky")).await;
    let execution_id = app.trigger("flaky").await;
    let poll = json!({"workerId": "hand", "queues": ["thumbnails"], "wait": "10s", "lease": "5s"});
    let (status, first) = app.post("/workers/poll", &poll).await;
    assert_eq!(status, 200, "{first}");
    let task = &first["tasks"][0];
    assert_eq!(task["attempt"], 1);
    assert_eq!(task["executionId"], execution_id.as_str());
    assert_eq!(task["input"]["image"], "a.png");
    let task_id = task["taskId"].as_str().unwrap();
    let (status, other) = app
        .post(
            &format!("/tasks/{task_id}/complete"),
            &json!({"workerId": "someone-else", "output": {"thumbnail": "x"}}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), other["error"].as_str()),
        (409, Some("task_not_held"))
    );
    let (_, parked) = app.get(&format!("/executions/{execution_id}")).await;
    assert_eq!(
        parked["status"], "waiting",
        "no runner holds it while a worker does: {parked}"
    );
    let (status, nacked) = app
        .post(
            &format!("/tasks/{task_id}/fail"),
            &json!({"workerId": "hand", "error": "busy", "retryable": true}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), nacked["status"].as_str()),
        (200, Some("queued")),
        "{nacked}"
    );
    let (_, none_yet) = app
        .post(
            "/workers/poll",
            &json!({"workerId": "hand", "queues": ["thumbnails"]}),
        )
        .await;
    assert_eq!(
        none_yet["tasks"],
        json!([]),
        "not before the step's backoff"
    );
    let (_, second) = app.post("/workers/poll", &poll).await;
    assert_eq!(second["tasks"][0]["attempt"], 2, "{second}");
    let (status, done) = app
        .post(
            &format!("/tasks/{task_id}/complete"),
            &json!({"workerId": "hand", "output": {"thumbnail": "a-64.png"}}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), done["status"].as_str()),
        (200, Some("completed"))
    );
    let (status, _) = app
        .post(
            &format!("/tasks/{task_id}/complete"),
            &json!({"workerId": "hand", "output": {"thumbnail": "again"}}),
        )
        .await;
    assert_eq!(status, 409, "the first result wins");
    let execution = app.wait_terminal(&execution_id).await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    let step = &execution["actions"][0];
    assert_eq!(step["output"], json!({"thumbnail": "a-64.png"}));
    assert_eq!(step["attempts"], 2);
    assert_eq!(step["workers"][0]["outcome"], "failed");
    assert_eq!(step["workers"][0]["error"], "busy");

    // A non-retryable nack fails the step (and so the execution) at once.
    let mut python = worker(&app, "py", &[]);
    let broken = app.run_to_end(&workflow("broken", "broken")).await;
    python.kill().await.unwrap();
    assert_eq!(broken["status"], "failed", "{broken}");
    assert_eq!(broken["actions"][0]["attempts"], 1);
    let error = broken["actions"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("not retryable") && error.contains("never work"),
        "{error}"
    );
}

async fn fail_fast_holds_while_items_wait_for_workers(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "fail_fast_holds_while_items_wait_for_workers").await
    else {
        return;
    };
    register_thumbnails(&app).await;
    app.create(&json!({
        "workflowId": "fast", "trigger": {"type": "manual"},
        "actions": [{"id": "thumb", "type": "service", "service": "thumbs",
                     "forEach": {"items": "[1, 2, 3, 4]", "concurrency": 2, "failFast": true},
                     "input": {"image": "{{ item }}.png", "width": 8}}]
    }))
    .await;
    let id = app.trigger("fast").await;
    // A poll answers as soon as one task is ready; the second may be enqueued a moment later.
    let mut tasks: Vec<Value> = Vec::new();
    for _ in 0..20 {
        let want = 2 - tasks.len();
        let poll =
            json!({"workerId": "hand", "queues": ["thumbnails"], "max": want, "wait": "10s"});
        let (_, got) = app.post("/workers/poll", &poll).await;
        tasks.extend(got["tasks"].as_array().unwrap().iter().cloned());
        if tasks.len() >= 2 {
            break;
        }
    }
    assert_eq!(tasks.len(), 2, "the concurrency: {tasks:?}");
    let task = |k: usize| tasks[k]["taskId"].as_str().unwrap().to_string();
    let (status, _) = app
        .post(
            &format!("/tasks/{}/fail", task(0)),
            &json!({"workerId": "hand", "error": "unreadable", "retryable": false}),
        )
        .await;
    assert_eq!(status, 200);
    // The failed item woke the execution; the other one still waits: nothing new may start.
    let quick = json!({"workerId": "hand", "queues": ["thumbnails"], "max": 2, "wait": "300ms"});
    let (_, none) = app.post("/workers/poll", &quick).await;
    assert_eq!(none["tasks"], json!([]), "failFast: no further item starts");
    let (status, _) = app
        .post(
            &format!("/tasks/{}/complete", task(1)),
            &json!({"workerId": "hand", "output": {"thumbnail": "ok"}}),
        )
        .await;
    assert_eq!(status, 200);
    let execution = app.wait_terminal(&id).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    let items = execution["actions"][0]["items"].as_array().unwrap();
    let statuses: Vec<&str> = items
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "failed").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "succeeded").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "pending").count(),
        2,
        "{statuses:?}"
    );
    let failed = items.iter().find(|i| i["status"] == "failed").unwrap();
    assert_eq!(
        failed["attempts"], 1,
        "counted once across the wake: {failed}"
    );
}

async fn executions_waiting_for_workers_hold_no_runner(transport: Transport) {
    // Fewer runner slots than waiting executions: the plain workflow below runs only if the
    // waiting ones hold none.
    let Some(app) = TestApp::spawn_with(
        transport,
        "executions_waiting_for_workers_hold_no_runner",
        &[("RUNNER_CONCURRENCY", "8")],
    )
    .await
    else {
        return;
    };
    register_thumbnails(&app).await;
    let waiting = 60;
    let mut ids = Vec::new();
    for i in 0..waiting {
        let id = format!("waits-{i}");
        app.create(&json!({"workflowId": id, "trigger": {"type": "manual"},
                           "actions": [{"type": "service", "service": "thumbs",
                                        "input": {"image": format!("{i}.png"), "width": 32}}]}))
            .await;
        ids.push(app.trigger(&id).await);
    }
    // Every one parks as `waiting` (none stays `running` on a runner).
    for id in &ids {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (_, e) = app.get(&format!("/executions/{id}")).await;
            if e["status"] == "waiting" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "not parked: {e}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let sink = Sink::start().await;
    let plain = app
        .run_to_end(
            &json!({"workflowId": "plain", "trigger": {"type": "manual"},
                            "actions": [{"type": "http-request", "url": sink.url("/plain")}]}),
        )
        .await;
    assert_eq!(plain["status"], "succeeded", "{plain}");
    // Deleting a workflow cancels its waiting execution, as any other not ended.
    assert_eq!(app.delete("/workflows/waits-0").await, 204);
    let cancelled = app.wait_terminal(&ids.remove(0)).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    let mut python = worker(&app, "late", &[]);
    for id in &ids {
        let execution = app.wait_terminal_within(id, Duration::from_secs(60)).await;
        assert_eq!(execution["status"], "succeeded", "{execution}");
    }
    python.kill().await.unwrap();
}

crate::on_every_transport!(
    two_workers_share_a_queue_and_a_killed_ones_task_comes_back,
    nacks_follow_the_steps_retry_policy,
    fail_fast_holds_while_items_wait_for_workers,
    executions_waiting_for_workers_hold_no_runner
);
