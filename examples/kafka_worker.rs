//! A worker for the `thumbnails` queue over Kafka (README, "Workers"): it reads task messages
//! from `wfa.tasks.thumbnails` in a consumer group, "works" each (input `{"image": "cat.png",
//! "width": 128}` → output `{"thumbnail": "cat-128.png"}`) and publishes the result to
//! `wfa.task-results`. It commits a task's offset only after its result is published, so a
//! worker that dies mid-task leaves the task to the group (and to the orchestrator's
//! redelivery).
//!
//!     cargo run --example kafka_worker -- --brokers 127.0.0.1:9092 --worker-id k1
//!
//! `--hang-after N` takes a task after N results and never answers it (kill it to see the task
//! go to another worker); `--repeat` publishes every result twice (the orchestrator keeps the
//! first). Each event is printed as one JSON line.

use clap::Parser;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    #[arg(long, default_value = "thumbnails")]
    queue: String,
    #[arg(long, default_value = "wfa.tasks.")]
    topic_prefix: String,
    #[arg(long, default_value = "wfa.task-results")]
    results_topic: String,
    #[arg(long, default_value = "thumbnail-workers")]
    group: String,
    #[arg(long)]
    worker_id: String,
    #[arg(long)]
    hang_after: Option<usize>,
    #[arg(long)]
    repeat: bool,
}

fn say(event: &str, fields: Value) {
    let mut line = json!({"event": event});
    line.as_object_mut()
        .unwrap()
        .extend(fields.as_object().cloned().unwrap_or_default());
    println!("{line}");
}

/// The result of a task: its output, or an error and whether a retry may help.
fn work(task: &Value) -> Result<Value, (String, bool)> {
    let input = &task["input"];
    match input["behave"].as_str() {
        Some("flaky") if task["attempt"] == 1 => {
            return Err(("flaky on its first attempt".into(), true))
        }
        Some("broken") => return Err(("this input can never work".into(), false)),
        _ => {}
    }
    let image = input["image"]
        .as_str()
        .ok_or(("`image` is not a string".to_string(), false))?;
    let (stem, ext) = image.rsplit_once('.').unwrap_or((image, ""));
    Ok(json!({"thumbnail": format!("{stem}-{}.{ext}", input["width"])}))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("group.id", &args.group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "2000")
        .set("fetch.wait.max.ms", "10")
        // A queue's topic appears with its first task: look for it soon.
        .set("topic.metadata.refresh.interval.ms", "1000")
        .create()?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("linger.ms", "2")
        .create()?;
    let topic = format!("{}{}", args.topic_prefix, args.queue);
    consumer.subscribe(&[&topic])?;
    say(
        "started",
        json!({"workerId": args.worker_id, "topic": topic}),
    );
    let mut answered = 0;
    loop {
        let message = match consumer.recv().await {
            Ok(message) => message,
            Err(err) => {
                // Such as the topic not existing yet: it will.
                say("consumer-error", json!({"error": err.to_string()}));
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        let task: Value = match serde_json::from_slice(message.payload().unwrap_or_default()) {
            Ok(task) => task,
            Err(err) => {
                say("unreadable", json!({"error": err.to_string()}));
                continue;
            }
        };
        if args.hang_after.is_some_and(|n| answered >= n) {
            say(
                "hung",
                json!({"taskId": task["taskId"], "attempt": task["attempt"]}),
            );
            std::future::pending::<()>().await;
        }
        let mut result = json!({"taskId": task["taskId"], "workerId": args.worker_id, "attempt": task["attempt"]});
        match work(&task) {
            Ok(output) => result["output"] = output,
            Err((error, retryable)) => {
                result["error"] = json!(error);
                result["retryable"] = json!(retryable);
            }
        }
        let payload = result.to_string();
        let key = task["taskId"].as_str().unwrap_or_default().to_string();
        for _ in 0..if args.repeat { 2 } else { 1 } {
            let record = FutureRecord::to(&args.results_topic)
                .key(&key)
                .payload(&payload);
            producer
                .send(record, Duration::from_secs(10))
                .await
                .map_err(|(err, _)| err)?;
        }
        consumer.commit_message(&message, CommitMode::Async)?;
        answered += 1;
        say(
            "answered",
            json!({"taskId": task["taskId"], "attempt": task["attempt"], "ok": result.get("output").is_some()}),
        );
    }
}
