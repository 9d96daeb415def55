//! The Kafka floor: a bare produce → consume round trip on the same broker, with the product's
//! own producer and consumer settings (`shared`'s, not a copy), no product in between. One
//! message at a time gives the floor under the `latency` row; a closed loop with as many
//! messages in flight as the `e2e` row keeps executions gives the floor under its latency and
//! the broker's message rate. What the Kafka rows add beyond these is the product's.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use serde::Serialize;
use shared::transport::kafka::{settings, KafkaTuning};
use tokio::sync::Semaphore;

use crate::stats::{summarize, Summary};

#[derive(Debug, Clone, Serialize)]
pub struct KafkaLimit {
    /// Produce (acknowledged) → consumed, one message at a time.
    pub one_at_a_time: Summary,
    /// The same with `in_flight` messages kept in flight.
    pub in_flight: usize,
    pub loaded: Summary,
    pub per_sec: f64,
}

pub async fn run(
    brokers: &str,
    samples: usize,
    in_flight: usize,
    seconds: f64,
) -> Result<KafkaLimit> {
    let tag = format!(
        "{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let values: HashMap<String, String> = [
        ("KAFKA_BROKERS", brokers.to_string()),
        ("KAFKA_GROUP_ID", format!("wfa-bench-limit-{tag}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = shared::Config::from_values(&values)
        .map_err(|e| anyhow!("{e}"))?
        .kafka
        .context("KAFKA_BROKERS set")?;
    let tuning = KafkaTuning::default();
    let topic = format!("wfa-bench-limit-{tag}");

    let admin: AdminClient<DefaultClientContext> = settings::admin(&config).create()?;
    admin
        .create_topics(
            &[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .context("creating the limit topic")?;
    drop(admin);
    let producer: FutureProducer = settings::producer(&config, &tuning).create()?;
    let consumer: Arc<StreamConsumer> = Arc::new(settings::consumer(&config, &tuning).create()?);
    consumer.subscribe(&[&topic])?;

    // Until the consumer has its partition, a message waits for the group, not the broker.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        send(&producer, &topic, 0).await?;
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), consumer.recv()).await {
            break;
        }
        if Instant::now() > deadline {
            return Err(anyhow!("the consumer got no message within 60 s"));
        }
    }
    drain(&consumer).await;

    let mut one = Vec::with_capacity(samples);
    for _ in 0..samples {
        let sent = Instant::now();
        send(&producer, &topic, 0).await?;
        tokio::time::timeout(Duration::from_secs(10), consumer.recv())
            .await
            .context("no message within 10 s")??;
        one.push(sent.elapsed());
    }

    // Closed loop: a message goes out whenever one comes back.
    let origin = Instant::now();
    let slots = Arc::new(Semaphore::new(in_flight));
    let receiver = {
        let (consumer, slots) = (consumer.clone(), slots.clone());
        tokio::spawn(async move {
            let mut times = Vec::new();
            let stop = origin + Duration::from_secs_f64(seconds);
            while Instant::now() < stop + Duration::from_secs(5) {
                let Ok(Ok(message)) =
                    tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await
                else {
                    if Instant::now() >= stop {
                        break;
                    }
                    continue;
                };
                let sent_us = message
                    .payload()
                    .and_then(|p| std::str::from_utf8(p).ok())
                    .and_then(|p| p.parse::<u64>().ok())
                    .unwrap_or_default();
                times.push(origin.elapsed() - Duration::from_micros(sent_us));
                slots.add_permits(1);
            }
            times
        })
    };
    let mut sent = 0usize;
    while origin.elapsed().as_secs_f64() < seconds {
        let permit = slots.clone().acquire_owned().await?;
        permit.forget();
        let at = origin.elapsed().as_micros() as u64;
        let (producer, topic) = (producer.clone(), topic.clone());
        tokio::spawn(async move { send(&producer, &topic, at).await });
        sent += 1;
    }
    let times = receiver.await?;
    // The topic stays: deleting it under live clients crashed librdkafka's metadata cache
    // (against tansu 0.6); the broker is the bench's own and goes with it.
    eprintln!("bench: kafka limit sent {sent}, received {}", times.len());
    Ok(KafkaLimit {
        one_at_a_time: summarize(&one),
        in_flight,
        per_sec: times.len() as f64 / seconds,
        loaded: summarize(&times),
    })
}

async fn send(producer: &FutureProducer, topic: &str, payload: u64) -> Result<()> {
    let payload = payload.to_string();
    producer
        .send(
            FutureRecord::to(topic).key("bench").payload(&payload),
            Duration::from_secs(5),
        )
        .await
        .map_err(|(e, _)| anyhow!("produce: {e}"))?;
    Ok(())
}

/// Reads what the warm-up left behind.
async fn drain(consumer: &StreamConsumer) {
    while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(200), consumer.recv()).await {}
}
