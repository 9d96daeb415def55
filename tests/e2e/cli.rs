//! Issue 9, must show 7: the `wfa` commands against a running server, and YAML bodies.

use crate::support::process::free_port;
use crate::support::{TestApp, Transport};
use serde_json::{json, Value};
use std::path::Path;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn wfa(app: &TestApp, args: &[&str]) -> Run {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfa"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("WFA_SERVER", &app.base)
        .env_remove("WFA_API_TOKEN")
        .output()
        .await
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A workflow as GET shows it, without what differs between two creations.
fn definition(mut workflow: Value) -> Value {
    for field in ["createdAt", "updatedAt", "version"] {
        workflow.as_object_mut().unwrap().remove(field);
    }
    workflow
}

async fn spawn(test: &str) -> TestApp {
    TestApp::spawn(Transport::Embedded, test)
        .await
        .expect("embedded always runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_then_trigger_and_wait_exits_zero_on_success() {
    let app = spawn("apply_then_trigger_and_wait_exits_zero_on_success").await;
    let applied = wfa(&app, &["apply", "-f", "examples/hello.yaml"]).await;
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert!(
        applied.stdout.contains("workflow hello created"),
        "{}",
        applied.stdout
    );

    let run = wfa(&app, &["trigger", "hello", "--wait"]).await;
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    assert!(run.stdout.contains("succeeded"), "{}", run.stdout);
    assert!(run.stdout.contains("0: log succeeded"), "{}", run.stdout);
    let executions = app.executions_of("hello").await;
    assert_eq!(executions.len(), 1);
    assert_eq!(executions[0]["status"], "succeeded");

    // Applying again replaces it; listing and reading show it.
    let again = wfa(&app, &["apply", "-f", "examples/hello.yaml"]).await;
    assert!(
        again.stdout.contains("workflow hello updated (version 2)"),
        "{}",
        again.stdout
    );
    let list = wfa(&app, &["list"]).await;
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with("hello") && l.contains("manual")),
        "{}",
        list.stdout
    );
    let history = wfa(&app, &["executions", "hello"]).await;
    assert!(history.stdout.contains("succeeded"), "{}", history.stdout);
    let paused = wfa(&app, &["pause", "hello"]).await;
    assert_eq!(
        (paused.code, paused.stdout.trim()),
        (0, "workflow hello paused")
    );
    let refused = wfa(&app, &["trigger", "hello"]).await;
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("is paused"), "{}", refused.stderr);
    assert_eq!(wfa(&app, &["resume", "hello"]).await.code, 0);
    assert_eq!(wfa(&app, &["delete", "hello"]).await.code, 0);
    let gone = wfa(&app, &["get", "hello"]).await;
    assert_eq!(gone.code, 2);
    assert!(
        gone.stderr.contains("There is no workflow `hello`"),
        "{}",
        gone.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_run_exits_one_and_a_bad_file_exits_two_naming_the_field() {
    let app = spawn("a_failing_run_exits_one_and_a_bad_file_exits_two_naming_the_field").await;
    let dir = tempfile::tempdir().unwrap();
    let failing = dir.path().join("failing.yaml");
    let closed = format!("http://127.0.0.1:{}/", free_port());
    std::fs::write(
        &failing,
        format!("workflowId: failing\ntrigger: {{type: manual}}\nactions:\n  - {{type: http-request, url: \"{closed}\"}}\nretry: {{maxAttempts: 1}}\n"),
    )
    .unwrap();
    assert_eq!(
        wfa(&app, &["apply", "-f", failing.to_str().unwrap()])
            .await
            .code,
        0
    );
    let run = wfa(&app, &["trigger", "failing", "--wait"]).await;
    assert_eq!(run.code, 1, "{} {}", run.stdout, run.stderr);
    assert!(run.stdout.contains("failed"), "{}", run.stdout);

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "workflowId: bad\ntrigger: {type: periodic, interval: 500ms}\nactions: [{type: log, message: m}]\n",
    )
    .unwrap();
    let refused = wfa(&app, &["apply", "-f", bad.to_str().unwrap()]).await;
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("trigger.interval"),
        "{}",
        refused.stderr
    );
    let (status, _) = app.get("/workflows/bad").await;
    assert_eq!(status, 404, "nothing was created");

    let unreadable = wfa(&app, &["apply", "-f", "no/such/file.yaml"]).await;
    assert_eq!(unreadable.code, 2, "{}", unreadable.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaml_and_json_give_the_same_workflow() {
    let app = spawn("yaml_and_json_give_the_same_workflow").await;
    let dir = tempfile::tempdir().unwrap();
    let json_file = dir.path().join("hello.json");
    let as_json = json!({"workflowId": "hello", "trigger": {"type": "manual"},
        "actions": [{"type": "log", "message": "hello from wfa"}], "retry": {"maxAttempts": 2}});
    std::fs::write(&json_file, as_json.to_string()).unwrap();

    assert_eq!(
        wfa(&app, &["apply", "-f", "examples/hello.yaml"])
            .await
            .code,
        0
    );
    let from_yaml = definition(app.get("/workflows/hello").await.1);
    assert_eq!(app.delete("/workflows/hello").await, 204);
    assert_eq!(
        wfa(&app, &["apply", "-f", json_file.to_str().unwrap()])
            .await
            .code,
        0
    );
    let from_json = definition(app.get("/workflows/hello").await.1);
    assert_eq!(from_yaml, from_json);

    // The API itself reads YAML bodies, and names the field of a bad one as for JSON.
    let yaml =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello.yaml"))
            .unwrap()
            .replace("workflowId: hello", "workflowId: hello-yaml");
    let post = |body: String| {
        app.http
            .post(format!("{}/workflows", app.base))
            .header("content-type", "application/yaml")
            .body(body)
    };
    let (status, created) = app.send(post(yaml.clone())).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(definition(created)["actions"], from_json["actions"]);
    let (status, body) = app
        .send(post(
            yaml.replace("type: log", "type: shell")
                .replace("hello-yaml", "other"),
        ))
        .await;
    assert_eq!(
        (status.as_u16(), body["details"]["field"].as_str()),
        (400, Some("actions[0].type")),
        "{body}"
    );
    let (status, body) = app.send(post("workflowId: [unclosed".to_string())).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (400, Some("malformed_yaml")),
        "{body}"
    );
}
