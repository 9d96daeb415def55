//! The compose file's own settings. No Docker engine runs here, so each wfa service of
//! `docker-compose.yaml` is started as its binary with exactly the environment the file gives
//! it, host names pointed at the local stand-ins of `mongo` and `kafka`, and the seed payload
//! runs end to end through them.

use crate::periodic::stop_schedule;
use crate::support::app::Api;
use crate::support::process::{free_port, Service};
use crate::support::{Sink, Transport, SOON};
use serde_json::{json, Value};
use yaml_rust2::{Yaml, YamlLoader};

const SERVICES: [&str; 3] = ["workflows-svc", "scheduler-svc", "runner-svc"];
const TOKEN: &str = "compose-test-token";

/// One wfa service as the compose file declares it.
struct Declared {
    binary: String,
    environment: Vec<(String, String)>,
    replicas: i64,
}

fn declared(compose: &Yaml, service: &str) -> Declared {
    let s = &compose["services"][service];
    let binary = s["command"][0].as_str().expect("command").to_string();
    let environment = s["environment"]
        .as_hash()
        .unwrap_or_else(|| panic!("{service} has an environment map"))
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Yaml::String(s) => s.clone(),
                Yaml::Integer(n) => n.to_string(),
                Yaml::Boolean(b) => b.to_string(),
                other => panic!("{service}: unexpected value {other:?}"),
            };
            (k.as_str().unwrap().to_string(), value)
        })
        .collect();
    let replicas = s["deploy"]["replicas"].as_i64().unwrap_or(1);
    Declared {
        binary,
        environment,
        replicas,
    }
}

/// The compose value with the container network's names swapped for the stand-ins here.
fn pointed_at_stand_ins(var: &str, value: &str, here: &[(String, String)], port: u16) -> String {
    let local = |name: &str| {
        here.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    match var {
        "DATABASE_URL" => {
            assert!(value.starts_with("mongodb://mongo:27017/"), "{value}");
            local("DATABASE_URL")
        }
        "KAFKA_BROKERS" => {
            assert_eq!(value, "kafka:19092");
            local("KAFKA_BROKERS")
        }
        "HTTP_ADDR" => {
            assert_eq!(value, "0.0.0.0:8080");
            format!("0.0.0.0:{port}")
        }
        // Every replica its own port here, as each container has its own network namespace.
        "METRICS_ADDR" => {
            assert_eq!(value, "0.0.0.0:9090");
            format!("127.0.0.1:{}", free_port())
        }
        "WFA_API_TOKEN" => {
            assert!(
                value.starts_with("${WFA_API_TOKEN:?"),
                "taken from the environment"
            );
            TOKEN.to_string()
        }
        _ => value.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_files_settings_run_the_seed_payload() {
    let test = "the_compose_files_settings_run_the_seed_payload";
    let Some(here) = Transport::MongoKafka.settings(test) else {
        return;
    };
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.yaml"))
        .unwrap();
    let compose = YamlLoader::load_from_str(&text).unwrap().remove(0);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut processes = Vec::new();
    for service in SERVICES {
        let d = declared(&compose, service);
        assert_eq!(d.binary, service);
        let vars: Vec<&str> = d.environment.iter().map(|(k, _)| k.as_str()).collect();
        for required in [
            "DATABASE_URL",
            "KAFKA_BROKERS",
            "WFA_API_TOKEN",
            "LOG_FORMAT",
        ] {
            assert!(vars.contains(&required), "{service} sets {required}");
        }
        for replica in 0..d.replicas {
            let settings: Vec<(String, String)> = d
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), pointed_at_stand_ins(k, v, &here, port)))
                .collect();
            assert!(settings.contains(&("LOG_FORMAT".into(), "json".into())));
            let log = dir.path().join(format!("{service}-{replica}.log"));
            let serves_api = service == "workflows-svc";
            let metrics = settings
                .iter()
                .find(|(k, _)| k == "METRICS_ADDR")
                .unwrap()
                .1
                .clone();
            processes.push(Service::start_logging_to(service, &log, &settings, serves_api).await);
            if !serves_api {
                // What the compose healthcheck probes.
                let probe = Api::new(format!("http://{metrics}"));
                probe.wait_ready_at("/healthz").await;
            }
        }
    }
    assert_eq!(processes.len(), 4, "the API, a scheduler and two runners");

    let api = Api::with_token(format!("http://127.0.0.1:{port}"), TOKEN);
    let sink = Sink::start().await;
    // The seed payload, pointed at the sink and on a short interval so the test stays quick.
    let created = api
        .create(&json!({
            "workflowId": "recurrent-workflow",
            "trigger": { "type": "periodic", "interval": "1s" },
            "actions": [ { "type": "http-request", "url": sink.url("/seed"), "method": "GET" } ]
        }))
        .await;
    assert_eq!(created["trigger"]["status"], "idle");
    sink.wait_for("/seed", 2, SOON).await;
    let unauthenticated = Api::new(api.base.clone());
    assert_eq!(unauthenticated.get("/workflows").await.0, 401);
    stop_schedule(&api, "recurrent-workflow").await;
    let executions: Vec<Value> = api.settled_executions_of("recurrent-workflow").await;
    assert!(
        executions
            .iter()
            .filter(|e| e["status"] == "succeeded")
            .count()
            >= 2,
        "{executions:?}"
    );
}
