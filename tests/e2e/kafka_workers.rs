//! Issue 13 (workers over Kafka): tasks are published on `<prefix><queue>` and results read
//! from the results topic. Two worker processes (`examples/kafka_worker.rs`) share a queue:
//! one is SIGKILLed mid-task, the other publishes every result twice; every task completes once
//! on the execution record, the killed one's task by the other worker, and the repeats are
//! ignored and counted. And the protocol by hand: a nack, its repeat, the redelivery.

use crate::metrics::metrics_text;
use crate::support::transport::kafka_brokers;
use crate::support::{TestApp, Transport};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// The topics and the group of one test.
struct Bus {
    brokers: String,
    prefix: String,
    results: String,
    group: String,
}

impl Bus {
    fn new(test: &str) -> Option<Bus> {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        Some(Bus {
            brokers: kafka_brokers(test)?,
            prefix: format!("wfa-test-{unique}.tasks."),
            results: format!("wfa-test-{unique}.task-results"),
            group: format!("wfa-test-{unique}.workers"),
        })
    }

    fn settings(&self) -> [(&str, &str); 3] {
        [
            ("KAFKA_TASK_TOPIC_PREFIX", &self.prefix),
            ("KAFKA_TASK_RESULTS_TOPIC", &self.results),
            // A task the killed worker held goes out again this soon.
            ("KAFKA_TASK_REDELIVERY", "4s"),
        ]
    }
}

struct Worker {
    child: Child,
    events: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    fn start(bus: &Bus, id: &str, extra: &[&str]) -> Worker {
        let binary = Path::new(env!("CARGO_BIN_EXE_wfa")).with_file_name("examples/kafka_worker");
        assert!(
            binary.exists(),
            "{} is missing: run `cargo build --workspace --bins --examples` first (scripts/test does)",
            binary.display()
        );
        let mut child = Command::new(binary)
            .args(["--brokers", &bus.brokers, "--topic-prefix", &bus.prefix])
            .args(["--results-topic", &bus.results, "--group", &bus.group])
            .args(["--worker-id", id])
            .args(extra)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the example worker runs");
        let events = BufReader::new(child.stdout.take().unwrap()).lines();
        Worker { child, events }
    }

    /// Reads events until one named `event`; returns it.
    async fn until(&mut self, event: &str) -> Value {
        crate::workers::next_event(&mut self.events, event).await
    }
}

async fn kafka_workers_share_a_queue_and_the_first_result_wins(transport: Transport) {
    let test = "kafka_workers_share_a_queue_and_the_first_result_wins";
    let Some(bus) = Bus::new(test) else { return };
    let Some(app) = TestApp::spawn_with(transport, test, &bus.settings()).await else {
        return;
    };
    let (id, count) = crate::workers::trigger_thumbnail_fan_out(&app, transport).await;
    let id = id.as_str();
    // Waiting: its tasks are out, and their topic exists.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, e) = app.get(&format!("/executions/{id}")).await;
        if e["status"] == "waiting" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not waiting: {e}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The first worker has the queue to itself until it hangs on its fourth task; killed, it
    // leaves that task unanswered and its offset uncommitted.
    let mut doomed = Worker::start(&bus, "k1", &["--hang-after", "3"]);
    let hung = doomed.until("hung").await;
    doomed.child.kill().await.unwrap();
    let mut steady = Worker::start(&bus, "k2", &["--repeat"]);
    steady.until("answered").await;
    let execution = app.wait_terminal_within(id, Duration::from_secs(90)).await;
    steady.child.kill().await.unwrap();

    assert_eq!(execution["status"], "succeeded", "{execution}");
    let expected: Vec<String> = (0..count).map(|i| format!("img{i}-128.png")).collect();
    assert_eq!(execution["output"], json!({"thumbnails": expected}));
    let items = execution["actions"][0]["items"].as_array().unwrap();
    assert_eq!(items.len(), count);
    let completed_by = |item: &Value| -> Vec<String> {
        let workers = item["workers"].as_array().unwrap();
        let done = workers.iter().filter(|w| w["outcome"] == "completed");
        done.map(|w| w["workerId"].as_str().unwrap().to_string())
            .collect()
    };
    for item in items {
        assert_eq!(
            completed_by(item).len(),
            1,
            "each task completes once: {item}"
        );
    }
    let hung_item = items
        .iter()
        .find(|i| i["taskId"] == hung["taskId"])
        .expect("the hung task is an item's");
    assert_eq!(completed_by(hung_item), ["k2"], "{hung_item}");
    let by_k1 = items.iter().filter(|i| completed_by(i) == ["k1"]).count();
    assert_eq!(by_k1, 3, "the killed worker's three answers count");

    // Every answer of k2 came twice: the repeats changed nothing and were counted.
    let metrics = metrics_text(&app).await;
    let duplicates: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"wfa_task_results_ignored_total{reason="duplicate"} "#))
        .unwrap_or_else(|| panic!("no duplicate count in:\n{metrics}"))
        .parse()
        .unwrap();
    assert!(
        duplicates >= (count - 3) as f64,
        "{duplicates} duplicates for {count} tasks"
    );
}

/// The protocol by hand, as a worker in another language would speak it: read a task, nack
/// it, repeat the nack, read its redelivery after the step's backoff, ack, repeat the ack.
async fn a_nack_on_kafka_follows_the_retry_policy_and_repeats_change_nothing(transport: Transport) {
    let test = "a_nack_on_kafka_follows_the_retry_policy_and_repeats_change_nothing";
    let Some(bus) = Bus::new(test) else { return };
    let Some(app) = TestApp::spawn_with(transport, test, &bus.settings()).await else {
        return;
    };
    let (status, body) = app
        .post(
            "/services",
            &json!({"name": "thumbs", "queue": "thumbnails",
                    "inputs": [{"name": "image", "type": "string"}],
                    "outputs": [{"name": "thumbnail", "type": "string"}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    app.create(&json!({"workflowId": "by-hand", "trigger": {"type": "manual"},
                       "actions": [{"id": "thumb", "type": "service", "service": "thumbs",
                                    "retry": {"maxAttempts": 3, "initialDelay": "300ms", "jitter": 0.0},
                                    "input": {"image": "a.png"}}]}))
        .await;
    let execution_id = app.trigger("by-hand").await;
    let tasks = consumer(&bus, &format!("{}thumbnails", bus.prefix));
    let first = next_task(&tasks).await;
    assert_eq!(
        (first["attempt"].as_u64(), first["executionId"].as_str()),
        (Some(1), Some(execution_id.as_str()))
    );
    assert_eq!(first["input"], json!({"image": "a.png"}));
    let task_id = first["taskId"].as_str().unwrap().to_string();
    let nack = json!({"taskId": task_id, "workerId": "hand", "attempt": 1, "error": "busy", "retryable": true});
    publish(&bus, &nack).await;
    publish(&bus, &nack).await;
    let second = next_task(&tasks).await;
    assert_eq!(
        second["attempt"], 2,
        "redelivered after the backoff: {second}"
    );
    let ack = json!({"taskId": task_id, "workerId": "hand", "attempt": 2, "output": {"thumbnail": "a-small.png"}});
    publish(&bus, &ack).await;
    publish(
        &bus,
        &json!({"taskId": task_id, "workerId": "late", "output": {"thumbnail": "other.png"}}),
    )
    .await;
    let execution = app.wait_terminal(&execution_id).await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    let step = &execution["actions"][0];
    assert_eq!(
        step["output"],
        json!({"thumbnail": "a-small.png"}),
        "the first result won"
    );
    assert_eq!(
        step["attempts"], 2,
        "the repeated nack did not count: {step}"
    );
    let workers = step["workers"].as_array().unwrap();
    assert_eq!(
        (workers[0]["outcome"].as_str(), workers[0]["error"].as_str()),
        (Some("failed"), Some("busy"))
    );
    assert_eq!(
        (
            workers[1]["outcome"].as_str(),
            workers[1]["workerId"].as_str()
        ),
        (Some("completed"), Some("hand"))
    );
    // Over HTTP too, the task is settled.
    let (status, _) = app
        .post(
            &format!("/tasks/{task_id}/complete"),
            &json!({"workerId": "hand", "output": {"thumbnail": "x"}}),
        )
        .await;
    assert_eq!(status, 409);
    let metrics = metrics_text(&app).await;
    for reason in ["stale", "duplicate"] {
        let key = format!(r#"wfa_task_results_ignored_total{{reason="{reason}"}} 1"#);
        assert!(metrics.lines().any(|l| l == key), "{key} in:\n{metrics}");
    }
}

fn consumer(bus: &Bus, topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bus.brokers)
        .set("group.id", &bus.group)
        .set("auto.offset.reset", "earliest")
        .set("topic.metadata.refresh.interval.ms", "500")
        .set("fetch.wait.max.ms", "10")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    consumer
}

/// The next task message on the queue's topic.
async fn next_task(consumer: &StreamConsumer) -> Value {
    let read = async {
        loop {
            // Errors such as the topic not existing yet pass.
            if let Ok(message) = consumer.recv().await {
                return serde_json::from_slice(message.payload().unwrap()).unwrap();
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("a task message within 60s")
}

async fn publish(bus: &Bus, result: &Value) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bus.brokers)
        .create()
        .unwrap();
    let payload = result.to_string();
    let key = result["taskId"].as_str().unwrap();
    producer
        .send(
            FutureRecord::to(&bus.results).key(key).payload(&payload),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(err, _)| err)
        .unwrap();
}

mod kafka {
    use crate::support::Transport::Kafka;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kafka_workers_share_a_queue_and_the_first_result_wins() {
        super::kafka_workers_share_a_queue_and_the_first_result_wins(Kafka).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_nack_on_kafka_follows_the_retry_policy_and_repeats_change_nothing() {
        super::a_nack_on_kafka_follows_the_retry_policy_and_repeats_change_nothing(Kafka).await
    }
}

mod mongo_kafka {
    use crate::support::Transport::MongoKafka;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kafka_workers_share_a_queue_and_the_first_result_wins() {
        super::kafka_workers_share_a_queue_and_the_first_result_wins(MongoKafka).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_nack_on_kafka_follows_the_retry_policy_and_repeats_change_nothing() {
        super::a_nack_on_kafka_follows_the_retry_policy_and_repeats_change_nothing(MongoKafka).await
    }
}
