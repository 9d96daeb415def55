//! The Kafka transport against a real broker (`tansu` in CI, started by scripts/test), whose
//! address is in `WFA_TEST_KAFKA_BROKERS`. Each test uses its own topic and consumer group.

use async_trait::async_trait;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use shared::config::KafkaConfig;
use shared::domain::{ExecutionRequest, Reason};
use shared::transport::kafka::{KafkaTransport, KafkaTuning};
use shared::transport::{RequestHandler, Transport};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long a test waits for something that should happen in well under a second.
const PATIENCE: Duration = Duration::from_secs(30);

/// The broker to test against, or `None` (after saying so) when there is none.
fn brokers(test: &str) -> Option<String> {
    match std::env::var("WFA_TEST_KAFKA_BROKERS") {
        Ok(brokers) if !brokers.trim().is_empty() => Some(brokers),
        _ if std::env::var("WFA_REQUIRE_KAFKA").as_deref() == Ok("1") => {
            panic!("{test}: WFA_REQUIRE_KAFKA=1 but WFA_TEST_KAFKA_BROKERS is not set (scripts/test starts tansu)")
        }
        _ => {
            println!("SKIPPED: {test}: set WFA_TEST_KAFKA_BROKERS (scripts/test starts tansu)");
            None
        }
    }
}

/// A topic and a group no other test uses.
fn config(brokers: &str, partitions: i32) -> KafkaConfig {
    // RUST_LOG=shared=trace,librdkafka=debug shows rebalances, offset stores and the client.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let id = Uuid::new_v4().simple();
    KafkaConfig {
        brokers: brokers.to_string(),
        topic: format!("wfa-test-{id}"),
        partitions,
        group_id: format!("wfa-test-{id}"),
        session_timeout: Duration::from_secs(6),
        task_topic_prefix: format!("wfa-test-{id}.tasks."),
        task_results_topic: format!("wfa-test-{id}.task-results"),
        task_redelivery: Duration::from_secs(60),
    }
}

fn tuning() -> KafkaTuning {
    KafkaTuning {
        startup_attempts: 3,
        commit_interval: Duration::from_millis(200),
        ..KafkaTuning::default()
    }
}

async fn connect(config: &KafkaConfig) -> Arc<KafkaTransport> {
    Arc::new(
        KafkaTransport::connect(config, tuning())
            .await
            .expect("connect to the test broker"),
    )
}

fn request(workflow_id: &str) -> ExecutionRequest {
    ExecutionRequest {
        execution_id: Uuid::new_v4(),
        workflow_id: workflow_id.to_string(),
        attempt: 1,
        reason: Reason::Manual,
        scheduled_for: shared::time::now(),
    }
}

/// Passes every request it handles to the test.
struct Recorder(mpsc::UnboundedSender<ExecutionRequest>);

#[async_trait]
impl RequestHandler for Recorder {
    async fn handle(&self, request: ExecutionRequest) {
        let _ = self.0.send(request);
    }
}

/// A running `consume`, stopped the way a runner stops it.
struct Running {
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

fn start(transport: &Arc<KafkaTransport>, handler: Arc<dyn RequestHandler>) -> Running {
    let (transport, shutdown) = (transport.clone(), CancellationToken::new());
    let token = shutdown.clone();
    let task = tokio::spawn(async move { transport.consume(handler, 8, token).await });
    Running { shutdown, task }
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("consume returns after shutdown")
            .expect("consume task")
            .expect("consume ends cleanly");
    }
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .expect("handler alive")
}

async fn publish_all(transport: &KafkaTransport, requests: &[ExecutionRequest]) {
    for request in requests {
        transport.publish(request).await.expect("publish");
    }
}

/// Receives until every id in `expected` has arrived; returns everything received.
async fn receive_all(
    rx: &mut mpsc::UnboundedReceiver<ExecutionRequest>,
    expected: &[ExecutionRequest],
) -> Vec<ExecutionRequest> {
    let mut missing: HashSet<Uuid> = expected.iter().map(|r| r.execution_id).collect();
    let mut received = Vec::new();
    while !missing.is_empty() {
        let request = next(rx, &format!("{} more requests", missing.len())).await;
        missing.remove(&request.execution_id);
        received.push(request);
    }
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_published_request_is_delivered() {
    let Some(brokers) = brokers("every_published_request_is_delivered") else {
        return;
    };
    let config = config(&brokers, 3);
    let transport = connect(&config).await;
    transport.ready().await.expect("ready");
    let requests: Vec<_> = (0..50).map(|i| request(&format!("wf-{}", i % 7))).collect();
    publish_all(&transport, &requests).await;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let consumer = start(&transport, Arc::new(Recorder(tx)));
    let received = receive_all(&mut rx, &requests).await;
    consumer.stop().await;

    for request in &requests {
        let copy = received
            .iter()
            .find(|r| r.execution_id == request.execution_id)
            .expect("delivered");
        assert_eq!(copy, request, "the request arrives as published");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_keyed_by_workflow_id() {
    let Some(brokers) = brokers("messages_are_keyed_by_workflow_id") else {
        return;
    };
    let config = config(&brokers, 2);
    let transport = connect(&config).await;
    let sent = request("keyed-workflow");
    publish_all(&transport, std::slice::from_ref(&sent)).await;

    // A plain librdkafka consumer, to see the raw message.
    let raw: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", format!("{}-raw", config.group_id))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("raw consumer");
    raw.subscribe(&[&config.topic]).expect("subscribe");
    let message = tokio::task::spawn_blocking(move || loop {
        if let Some(message) = raw.poll(Duration::from_millis(200)) {
            let message = message.expect("raw message").detach();
            return message;
        }
    });
    let message = tokio::time::timeout(PATIENCE, message)
        .await
        .expect("raw message in time")
        .expect("poll");
    assert_eq!(message.key(), Some(sent.workflow_id.as_bytes()));
    let payload: serde_json::Value =
        serde_json::from_slice(message.payload().expect("payload")).expect("JSON");
    assert_eq!(payload["workflowId"], "keyed-workflow");
    assert_eq!(payload["executionId"], sent.execution_id.to_string());
}

/// Starts a named handler, then waits until the test releases it (or 5 s pass).
struct SlowOrFast {
    events: mpsc::UnboundedSender<String>,
    release: CancellationToken,
    slow_done: Arc<AtomicBool>,
}

#[async_trait]
impl RequestHandler for SlowOrFast {
    async fn handle(&self, request: ExecutionRequest) {
        if request.workflow_id == "slow" {
            let _ = self.events.send("slow started".into());
            tokio::select! {
                _ = self.release.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
            self.slow_done.store(true, Ordering::SeqCst);
        } else {
            let _ = self.events.send(format!("{} handled", request.workflow_id));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_does_not_delay_the_next_on_its_partition() {
    let Some(brokers) = brokers("a_slow_request_does_not_delay_the_next_on_its_partition") else {
        return;
    };
    // One partition: the slow and the fast request are certainly on the same one.
    let config = config(&brokers, 1);
    let transport = connect(&config).await;
    publish_all(&transport, &[request("slow"), request("fast")]).await;

    let (events, mut rx) = mpsc::unbounded_channel();
    let (release, slow_done) = (CancellationToken::new(), Arc::new(AtomicBool::new(false)));
    let handler = SlowOrFast {
        events,
        release: release.clone(),
        slow_done: slow_done.clone(),
    };
    let consumer = start(&transport, Arc::new(handler));
    // Both run at once, so either may report first; the slow one only ends when released.
    let mut events = vec![
        next(&mut rx, "a first request").await,
        next(&mut rx, "a second request").await,
    ];
    events.sort();
    assert_eq!(events, ["fast handled", "slow started"]);
    assert!(
        !slow_done.load(Ordering::SeqCst),
        "the fast request was handled while the slow one still ran"
    );

    release.cancel();
    consumer.stop().await;
    assert!(
        slow_done.load(Ordering::SeqCst),
        "shutdown waited for the slow handler"
    );
    assert_eq!(
        committed(&config).await,
        Some(2),
        "both handled: the group resumes after them"
    );
}

/// The offset the group committed for partition 0 of the test topic.
async fn committed(config: &KafkaConfig) -> Option<i64> {
    let (brokers, group, topic) = (
        config.brokers.clone(),
        config.group_id.clone(),
        config.topic.clone(),
    );
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", &group)
            .create()
            .expect("offsets reader");
        let mut partitions = TopicPartitionList::new();
        partitions.add_partition(&topic, 0);
        let committed = consumer
            .committed_offsets(partitions, PATIENCE)
            .expect("committed offsets");
        match committed
            .find_partition(&topic, 0)
            .expect("partition 0")
            .offset()
        {
            Offset::Offset(offset) => Some(offset),
            _ => None,
        }
    })
    .await
    .expect("offsets reader task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_consumer_resumes_after_what_the_group_handled() {
    let Some(brokers) = brokers("a_new_consumer_resumes_after_what_the_group_handled") else {
        return;
    };
    let config = config(&brokers, 3);
    let transport = connect(&config).await;
    let workflows = ["alpha", "beta", "gamma", "delta"];
    let first: Vec<_> = workflows
        .iter()
        .cycle()
        .take(12)
        .map(|w| request(w))
        .collect();
    publish_all(&transport, &first).await;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let consumer_a = start(&transport, Arc::new(Recorder(tx)));
    receive_all(&mut rx, &first).await;
    consumer_a.stop().await;

    // The same workflows again: every partition that held a handled message gets a new one
    // behind it, so a redelivered old message would arrive before the new ones.
    let second: Vec<_> = workflows
        .iter()
        .cycle()
        .take(12)
        .map(|w| request(w))
        .collect();
    publish_all(&transport, &second).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let consumer_b = start(&transport, Arc::new(Recorder(tx)));
    receive_all(&mut rx, &second).await;
    // Graceful stop waits for every handler consumer B started, so `rx` now holds all it got.
    consumer_b.stop().await;

    let handled_by_a: HashSet<Uuid> = first.iter().map(|r| r.execution_id).collect();
    while let Ok(request) = rx.try_recv() {
        assert!(
            !handled_by_a.contains(&request.execution_id),
            "redelivered {request:?}"
        );
    }
}

/// Passes every request it handles to the test, with the name of the consumer.
struct Tagged(
    &'static str,
    mpsc::UnboundedSender<(&'static str, ExecutionRequest)>,
);

#[async_trait]
impl RequestHandler for Tagged {
    async fn handle(&self, request: ExecutionRequest) {
        let _ = self.1.send((self.0, request));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_consumer_takes_over_partitions_without_losing_requests() {
    let test = "a_second_consumer_takes_over_partitions_without_losing_requests";
    let Some(brokers) = brokers(test) else { return };
    let config = config(&brokers, 4);
    let transport = connect(&config).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let consumer_a = start(&transport, Arc::new(Tagged("a", tx.clone())));
    let mut consumer_b = None;

    // Rounds of one request per workflow, until the rebalance B's arrival causes hands B some
    // partitions. Every round must arrive whole, across the rebalance.
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let round: Vec<_> = (0..8).map(|i| request(&format!("wf-{i}"))).collect();
        publish_all(&transport, &round).await;
        let mut missing: HashSet<Uuid> = round.iter().map(|r| r.execution_id).collect();
        let mut b_handled = false;
        while !missing.is_empty() {
            let (by, request) = next(&mut rx, "the rest of a round").await;
            missing.remove(&request.execution_id);
            b_handled |= by == "b";
        }
        if b_handled {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "consumer B never got a partition"
        );
        consumer_b.get_or_insert_with(|| start(&transport, Arc::new(Tagged("b", tx.clone()))));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    consumer_a.stop().await;
    consumer_b.expect("started").stop().await;
}

/// Panics on workflow `boom`, passes the others to the test.
struct Boom(mpsc::UnboundedSender<ExecutionRequest>);

#[async_trait]
impl RequestHandler for Boom {
    async fn handle(&self, request: ExecutionRequest) {
        assert_ne!(
            request.workflow_id, "boom",
            "this handler panics on purpose"
        );
        let _ = self.0.send(request);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_messages_and_panicking_handlers_do_not_stall_the_partition() {
    let test = "unreadable_messages_and_panicking_handlers_do_not_stall_the_partition";
    let Some(brokers) = brokers(test) else { return };
    let config = config(&brokers, 1);
    let transport = connect(&config).await;
    let raw: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("raw producer");
    let garbage = FutureRecord::to(&config.topic)
        .key("garbage")
        .payload("not json");
    raw.send(garbage, PATIENCE).await.expect("produce garbage");
    let fine = request("fine");
    publish_all(&transport, &[request("boom"), fine.clone()]).await;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let consumer = start(&transport, Arc::new(Boom(tx)));
    assert_eq!(next(&mut rx, "the readable request").await, fine);
    consumer.stop().await;
    assert_eq!(
        committed(&config).await,
        Some(3),
        "the group resumes after all three"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_brokers_fail_start_up_naming_kafka_brokers() {
    // Needs no broker.
    let config = config(&format!("127.0.0.1:{}", free_port()), 1);
    let tuning = KafkaTuning {
        startup_attempts: 2,
        startup_max_delay: Duration::from_millis(200),
        request_timeout: Duration::from_secs(1),
        ..KafkaTuning::default()
    };
    let err = KafkaTransport::connect(&config, tuning)
        .await
        .err()
        .expect("no broker, no start-up");
    assert!(err.to_string().starts_with("KAFKA_BROKERS: "), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_to_unreachable_brokers_fails_in_bounded_time() {
    let config = config(&format!("127.0.0.1:{}", free_port()), 1);
    let tuning = KafkaTuning {
        publish_timeout: Duration::from_millis(500),
        ready_timeout: Duration::from_millis(500),
        ..KafkaTuning::default()
    };
    // `new` does not contact the broker, as when it goes down after start-up.
    let transport = KafkaTransport::new(&config, tuning).expect("producer");
    let started = std::time::Instant::now();
    let err = transport
        .publish(&request("wf"))
        .await
        .expect_err("nothing to publish to");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "publish took {:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("kafka publish"), "{err}");
    transport
        .ready()
        .await
        .expect_err("not ready without a broker");
}

/// A broker of this test's own (the shared one must stay up), killed when dropped.
struct OwnBroker {
    process: std::process::Child,
    port: u16,
}

impl OwnBroker {
    fn start(port: u16) -> Self {
        let url = format!("tcp://127.0.0.1:{port}");
        let process = std::process::Command::new("tansu")
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run `tansu` (on PATH when WFA_TEST_KAFKA_BROKERS is set)");
        Self { process, port }
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_fails_while_the_broker_is_down_and_recovers_after() {
    let test = "publish_fails_while_the_broker_is_down_and_recovers_after";
    if brokers(test).is_none() {
        return;
    }
    let port = free_port();
    let mut broker = OwnBroker::start(port);
    let config = config(&broker.address(), 2);
    let tuning = KafkaTuning {
        publish_timeout: Duration::from_secs(3),
        ..tuning()
    };
    let transport = Arc::new(
        KafkaTransport::connect(&config, tuning.clone())
            .await
            .expect("connect"),
    );
    transport
        .publish(&request("before"))
        .await
        .expect("publish while up");

    broker.stop();
    let started = std::time::Instant::now();
    transport
        .publish(&request("down"))
        .await
        .expect_err("publish while down");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "publish took {:?}",
        started.elapsed()
    );
    transport.ready().await.expect_err("not ready while down");

    // Same port, empty memory: the topic and the producer ids are gone. tansu answers the old
    // idempotent producer ProducerFenced from now on; the transport must replace it.
    let _broker = OwnBroker::start(port);
    let _topic_again = KafkaTransport::connect(&config, tuning)
        .await
        .expect("broker back");
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        match transport.publish(&request("after")).await {
            Ok(()) => break,
            Err(err) if std::time::Instant::now() < deadline => println!("not yet: {err}"),
            Err(err) => panic!("publish never recovered: {err}"),
        }
    }
    transport.ready().await.expect("ready again");
}

fn free_port() -> u16 {
    // Bound then released: nothing listens there until a test starts something.
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
