//! Typed configuration from environment variables, each also settable as a command-line flag
//! (`--http-addr 0.0.0.0:8080` sets `HTTP_ADDR`). A bad value stops start-up with one line that
//! names the variable.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Every setting: variable, default, what it does. `--help` prints this table.
pub const SETTINGS: &[(&str, &str, &str)] = &[
    (
        "DATABASE_URL",
        "sqlite://./data/wfa.db",
        "the store: sqlite://PATH, or mongodb://HOST[:PORT][,HOST...]/DBNAME[?OPTIONS]",
    ),
    (
        "KAFKA_BROKERS",
        "",
        "bootstrap servers; set to use Kafka as the transport instead of the store",
    ),
    (
        "KAFKA_TOPIC",
        "wfa.execution-requests",
        "topic of execution requests (created if missing)",
    ),
    (
        "KAFKA_PARTITIONS",
        "6",
        "partitions when the topic is created",
    ),
    (
        "KAFKA_GROUP_ID",
        "wfa-runner",
        "consumer group of the runners",
    ),
    (
        "KAFKA_SESSION_TIMEOUT",
        "10s",
        "consumer group session timeout",
    ),
    (
        "KAFKA_TASK_TOPIC_PREFIX",
        "wfa.tasks.",
        "worker tasks are published on this prefix and the queue's name (topics created if missing)",
    ),
    (
        "KAFKA_TASK_RESULTS_TOPIC",
        "wfa.task-results",
        "topic the results of worker tasks are read from",
    ),
    (
        "KAFKA_TASK_REDELIVERY",
        "60s",
        "a worker task published with no result this long is published again",
    ),
    ("HTTP_ADDR", "127.0.0.1:8080", "address of the REST API"),
    (
        "METRICS_ADDR",
        "",
        "address of GET /metrics for scheduler-svc and runner-svc (the API serves its own)",
    ),
    (
        "HTTP_HEAD_TIMEOUT",
        "30s",
        "how long a connection may take to send a request head, idle keep-alive wait included",
    ),
    (
        "HTTP_MAX_CONNECTIONS",
        "1024",
        "open API connections at most; one more is answered 503",
    ),
    (
        "WFA_API_TOKEN",
        "",
        "bearer token the API requires; without one the API binds to loopback only",
    ),
    (
        "WFA_AUTH_DISABLED",
        "false",
        "allow a non-loopback HTTP_ADDR without a token",
    ),
    (
        "EGRESS_DENY",
        "",
        "address ranges http-request actions may not call (link-local and metadata always are)",
    ),
    (
        "EGRESS_ALLOW",
        "",
        "when set, the only address ranges http-request actions may call",
    ),
    (
        "EGRESS_PROXY",
        "",
        "proxy for http-request actions (HTTP_PROXY and the like are ignored)",
    ),
    (
        "LOG_FORMAT",
        "pretty",
        "json or pretty (RUST_LOG sets the levels)",
    ),
    (
        "RUNNER_CONCURRENCY",
        "1024",
        "executions one runner runs at once",
    ),
    (
        "STEP_OUTPUT_LIMIT",
        "262144",
        "bytes of a step's output kept in the execution record; a bigger one is marked truncated",
    ),
    (
        "LEASE_DURATION",
        "30s",
        "how long a runner's claim lasts unless renewed",
    ),
    (
        "POLL_INTERVAL",
        "250ms",
        "how often to look for work written by other processes",
    ),
    (
        "REQUEUE_AFTER",
        "10s",
        "republish a queued execution no runner took after this long",
    ),
    (
        "TRIGGER_RATE_LIMIT",
        "",
        "manual triggers per workflow, e.g. 10/1m, for workflows without their own rateLimit",
    ),
    (
        "RETENTION_MAX_AGE",
        "30d",
        "ended executions older than this are deleted (0 keeps them forever)",
    ),
    (
        "RETENTION_PER_WORKFLOW",
        "1000",
        "ended executions kept per workflow, newest first (0 keeps all)",
    ),
    (
        "RETENTION_INTERVAL",
        "1m",
        "how often the scheduler prunes execution history",
    ),
    (
        "SHUTDOWN_GRACE",
        "10s",
        "how long in-flight work may finish on shutdown before it is released",
    ),
    (
        "SECRETS_FILE",
        "",
        "NAME=value lines read as {{ secrets.NAME }}, beside WFA_SECRET_NAME variables",
    ),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    Mongo(MongoUrl),
}

/// A MongoDB connection string. It may carry a password, so `Debug` shows only its scheme.
#[derive(Clone, PartialEq, Eq)]
pub struct MongoUrl(pub String);

impl std::fmt::Debug for MongoUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MongoUrl(mongodb://…)")
    }
}

/// How much ended execution history is kept; live executions are never pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Ended executions older than this go; `None` keeps them whatever their age.
    pub max_age: Option<Duration>,
    /// Ended executions kept per workflow, newest first; 0 keeps all.
    pub per_workflow: usize,
    pub interval: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub brokers: String,
    pub topic: String,
    pub partitions: i32,
    pub group_id: String,
    pub session_timeout: Duration,
    /// Where worker tasks go (`<prefix><queue>`) and their results come from.
    pub task_topic_prefix: String,
    pub task_results_topic: String,
    /// How long a published task waits for a result before it goes out again.
    pub task_redelivery: Duration,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub store: StoreUrl,
    /// `None`: the store is the queue.
    pub kafka: Option<KafkaConfig>,
    pub http_addr: SocketAddr,
    /// Where the scheduler and runner processes serve `/metrics`; unset: not served.
    pub metrics_addr: Option<SocketAddr>,
    /// A client that sends a request head this slowly (or idles this long) is cut off.
    pub http_head_timeout: Duration,
    pub http_max_connections: usize,
    pub api_token: Option<String>,
    pub auth_disabled: bool,
    /// Where `http-request` actions may go.
    pub egress: crate::egress::EgressPolicy,
    pub log_format: LogFormat,
    pub runner_concurrency: usize,
    /// The largest step output recorded: every output is kept in its execution's record, and
    /// a fan-out's is the list of all its items'.
    pub step_output_limit: usize,
    pub lease_duration: Duration,
    pub poll_interval: Duration,
    pub requeue_after: Duration,
    pub shutdown_grace: Duration,
    /// How much execution history the scheduler keeps.
    pub retention: Retention,
    /// The manual-trigger rate limit of workflows that set none.
    pub default_rate_limit: Option<crate::domain::RateLimit>,
    /// Names this process in leases, so a runner recognises its own claims.
    pub instance_id: String,
    /// What templates read as `secrets.NAME` (the runner's concern; values never printed).
    pub secrets: crate::secrets::Secrets,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {var}: {message}")]
pub struct ConfigError {
    pub var: String,
    pub message: String,
}

impl Config {
    /// Reads the process environment and command line.
    pub fn load() -> Result<Self, ConfigError> {
        let mut values: HashMap<String, String> = std::env::vars().collect();
        values.extend(parse_flags(std::env::args().skip(1))?);
        Self::from_values(&values)
    }

    /// Builds a configuration from variable names to values; absent ones take their default.
    pub fn from_values(values: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let v = Values(values);
        let config = Config {
            store: parse_store(&v.get("DATABASE_URL"))?,
            kafka: match v.get("KAFKA_BROKERS").trim() {
                "" => None,
                brokers => Some(KafkaConfig {
                    brokers: brokers.to_string(),
                    topic: v.non_empty("KAFKA_TOPIC")?,
                    partitions: v.parse_with(
                        "KAFKA_PARTITIONS",
                        |s| s.parse::<i32>().ok().filter(|n| (1..=10_000).contains(n)),
                        "a partition count between 1 and 10000",
                    )?,
                    group_id: v.non_empty("KAFKA_GROUP_ID")?,
                    session_timeout: v.duration("KAFKA_SESSION_TIMEOUT")?,
                    task_topic_prefix: v.topic_name("KAFKA_TASK_TOPIC_PREFIX")?,
                    task_results_topic: v.topic_name("KAFKA_TASK_RESULTS_TOPIC")?,
                    task_redelivery: v.duration("KAFKA_TASK_REDELIVERY")?,
                }),
            },
            http_addr: v.parse_with(
                "HTTP_ADDR",
                |s| s.parse().ok(),
                "a socket address such as 127.0.0.1:8080",
            )?,
            metrics_addr: match v.get("METRICS_ADDR").trim() {
                "" => None,
                addr => Some(addr.parse().map_err(|_| {
                    err(
                        "METRICS_ADDR",
                        &format!("`{addr}` is not a socket address such as 0.0.0.0:9090"),
                    )
                })?),
            },
            http_head_timeout: v.duration("HTTP_HEAD_TIMEOUT")?,
            http_max_connections: v.parse_with(
                "HTTP_MAX_CONNECTIONS",
                |s| {
                    s.parse::<usize>()
                        .ok()
                        .filter(|n| (1..=1_000_000).contains(n))
                },
                "a number between 1 and 1000000",
            )?,
            api_token: match v.get("WFA_API_TOKEN") {
                t if t.is_empty() => None,
                t if t.len() >= 16 && t.bytes().all(|b| b.is_ascii_graphic()) => Some(t),
                _ => {
                    return Err(err(
                        "WFA_API_TOKEN",
                        "must be at least 16 visible ASCII characters (e.g. openssl rand -hex 32)",
                    ))
                }
            },
            auth_disabled: v.parse_with("WFA_AUTH_DISABLED", parse_bool, "true or false")?,
            egress: crate::egress::EgressPolicy {
                deny: crate::egress::parse_ranges(&v.get("EGRESS_DENY"))
                    .map_err(|m| err("EGRESS_DENY", &m))?,
                allow: crate::egress::parse_ranges(&v.get("EGRESS_ALLOW"))
                    .map_err(|m| err("EGRESS_ALLOW", &m))?,
                proxy: match v.get("EGRESS_PROXY").trim() {
                    "" => None,
                    proxy => Some(
                        url::Url::parse(proxy)
                            .ok()
                            .filter(|u| matches!(u.scheme(), "http" | "https" | "socks5"))
                            .ok_or_else(|| {
                                err(
                                    "EGRESS_PROXY",
                                    "is not a proxy URL such as http://proxy:3128",
                                )
                            })?,
                    ),
                },
            },
            log_format: v.parse_with(
                "LOG_FORMAT",
                |s| match s {
                    "json" => Some(LogFormat::Json),
                    "pretty" => Some(LogFormat::Pretty),
                    _ => None,
                },
                "json or pretty",
            )?,
            runner_concurrency: v.parse_with(
                "RUNNER_CONCURRENCY",
                |s| {
                    s.parse::<usize>()
                        .ok()
                        .filter(|n| (1..=100_000).contains(n))
                },
                "a number between 1 and 100000",
            )?,
            step_output_limit: v.parse_with(
                "STEP_OUTPUT_LIMIT",
                |s| {
                    s.parse::<usize>()
                        .ok()
                        .filter(|n| (1024..=8 * 1024 * 1024).contains(n))
                },
                "a number of bytes between 1024 and 8388608",
            )?,
            lease_duration: v.duration("LEASE_DURATION")?,
            poll_interval: v.duration("POLL_INTERVAL")?,
            requeue_after: v.duration("REQUEUE_AFTER")?,
            shutdown_grace: v.duration("SHUTDOWN_GRACE")?,
            default_rate_limit: match v.get("TRIGGER_RATE_LIMIT").trim() {
                "" => None,
                rate => Some(
                    crate::domain::RateLimit::parse(rate)
                        .map_err(|m| err("TRIGGER_RATE_LIMIT", &m))?,
                ),
            },
            retention: Retention {
                max_age: match v.get("RETENTION_MAX_AGE").trim() {
                    "0" => None,
                    _ => Some(v.duration("RETENTION_MAX_AGE")?),
                },
                per_workflow: v.parse_with(
                    "RETENTION_PER_WORKFLOW",
                    |s| s.parse::<usize>().ok(),
                    "a number (0 keeps all)",
                )?,
                interval: v.duration("RETENTION_INTERVAL")?,
            },
            secrets: {
                let file = v.get("SECRETS_FILE");
                let file = Some(file.trim()).filter(|f| !f.is_empty());
                crate::secrets::Secrets::load(values, file).map_err(|m| err("SECRETS_FILE", &m))?
            },
            instance_id: format!(
                "{}-{}",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
        };
        if config.lease_duration < Duration::from_millis(300) {
            return Err(err("LEASE_DURATION", "must be at least 300ms"));
        }
        Ok(config)
    }

    /// The refusal DESIGN §6 asks for: an API reachable from other hosts must carry a token.
    pub fn check_auth_exposure(&self) -> Result<(), ConfigError> {
        if self.api_token.is_none() && !self.http_addr.ip().is_loopback() && !self.auth_disabled {
            return Err(err(
                "HTTP_ADDR",
                &format!(
                    "{} is reachable from other hosts but WFA_API_TOKEN is not set; set a token, \
                     bind to 127.0.0.1, or set WFA_AUTH_DISABLED=true",
                    self.http_addr
                ),
            ));
        }
        Ok(())
    }

    /// The text of `--help`.
    pub fn help(program: &str) -> String {
        let mut text = format!("Usage: {program} [--setting value ...]\n\nSettings (environment variable, or the flag in lower case with dashes):\n");
        for (var, default, about) in SETTINGS {
            let default = if default.is_empty() {
                "unset".to_string()
            } else {
                format!("default {default}")
            };
            text.push_str(&format!("  {var:<22} {about} ({default})\n"));
        }
        text
    }
}

fn err(var: &str, message: &str) -> ConfigError {
    ConfigError {
        var: var.to_string(),
        message: message.to_string(),
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

fn parse_store(url: &str) -> Result<StoreUrl, ConfigError> {
    match url.split_once("://") {
        Some(("sqlite", path)) if !path.is_empty() => Ok(StoreUrl::Sqlite(PathBuf::from(path))),
        Some(("mongodb", rest)) if !rest.is_empty() => Ok(StoreUrl::Mongo(MongoUrl(url.to_string()))),
        Some(("mongodb+srv", _)) => Err(err(
            "DATABASE_URL",
            "mongodb+srv:// needs DNS SRV lookups, which this build leaves out; list the hosts in a mongodb:// URL",
        )),
        _ => Err(err(
            "DATABASE_URL",
            "not a store this build supports; use sqlite://PATH or mongodb://HOST:PORT/DBNAME",
        )),
    }
}

/// `--http-addr x` and `--http-addr=x` become `HTTP_ADDR=x`.
fn parse_flags(args: impl Iterator<Item = String>) -> Result<HashMap<String, String>, ConfigError> {
    let mut values = HashMap::new();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            return Err(err(
                &arg,
                "unexpected argument; settings are given as --name value",
            ));
        };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (flag.to_string(), None),
        };
        let var = name.to_ascii_uppercase().replace('-', "_");
        if !SETTINGS.iter().any(|(known, _, _)| *known == var) {
            return Err(err(&format!("--{name}"), "unknown flag; see --help"));
        }
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => return Err(err(&format!("--{name}"), "needs a value")),
        };
        values.insert(var, value);
    }
    Ok(values)
}

struct Values<'a>(&'a HashMap<String, String>);

impl Values<'_> {
    fn get(&self, var: &str) -> String {
        match self.0.get(var) {
            Some(v) => v.clone(),
            None => SETTINGS
                .iter()
                .find(|(k, _, _)| *k == var)
                .map(|(_, d, _)| d.to_string())
                .unwrap_or_default(),
        }
    }

    fn parse_with<T>(
        &self,
        var: &str,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<T, ConfigError> {
        let raw = self.get(var);
        parse(raw.trim())
            .ok_or_else(|| err(var, &format!("`{raw}` is not valid; expected {expected}")))
    }

    fn duration(&self, var: &str) -> Result<Duration, ConfigError> {
        self.parse_with(
            var,
            |s| humantime::parse_duration(s).ok().filter(|d| !d.is_zero()),
            "a positive duration such as 500ms, 10s or 5m",
        )
    }

    /// A topic name (or a prefix of one) Kafka accepts, short enough for a queue's name after it.
    fn topic_name(&self, var: &str) -> Result<String, ConfigError> {
        self.parse_with(
            var,
            |s| {
                let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
                Some(s.to_string()).filter(|s| (1..=120).contains(&s.len()) && s.chars().all(legal))
            },
            "1 to 120 of A-Z a-z 0-9 . _ -",
        )
    }

    fn non_empty(&self, var: &str) -> Result<String, ConfigError> {
        self.parse_with(
            var,
            |s| Some(s.to_string()).filter(|s| !s.is_empty()),
            "a non-empty value",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_values(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn defaults_are_the_embedded_store_on_loopback() {
        let c = load(&[]).unwrap();
        assert_eq!(c.store, StoreUrl::Sqlite(PathBuf::from("./data/wfa.db")));
        assert!(c.kafka.is_none());
        assert!(c.http_addr.ip().is_loopback());
        c.check_auth_exposure().unwrap();
    }

    #[test]
    fn a_mongodb_url_selects_mongodb_and_its_debug_hides_the_password() {
        let url = "mongodb://wfa:s3cret@db:27017/wfa";
        let c = load(&[("DATABASE_URL", url)]).unwrap();
        assert_eq!(c.store, StoreUrl::Mongo(MongoUrl(url.into())));
        assert!(!format!("{c:?}").contains("s3cret"));
        let srv = load(&[("DATABASE_URL", "mongodb+srv://cluster/wfa")]).unwrap_err();
        assert_eq!(srv.var, "DATABASE_URL");
        assert_eq!(
            load(&[("DATABASE_URL", "postgres://x")]).unwrap_err().var,
            "DATABASE_URL"
        );
    }

    #[test]
    fn a_weak_token_is_refused() {
        for weak in ["x", " ", "short-token", "sixteen chars ok"] {
            assert_eq!(
                load(&[("WFA_API_TOKEN", weak)]).unwrap_err().var,
                "WFA_API_TOKEN",
                "{weak}"
            );
        }
        let strong = load(&[("WFA_API_TOKEN", "0123456789abcdef")]).unwrap();
        assert_eq!(strong.api_token.as_deref(), Some("0123456789abcdef"));
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let e = load(&[("LEASE_DURATION", "soon")]).unwrap_err();
        assert_eq!(e.var, "LEASE_DURATION");
        assert!(
            e.to_string()
                .starts_with("configuration error: LEASE_DURATION: `soon`"),
            "{e}"
        );
    }

    #[test]
    fn exposed_without_token_is_refused_unless_disabled() {
        let exposed = load(&[("HTTP_ADDR", "0.0.0.0:8080")]).unwrap();
        assert_eq!(exposed.check_auth_exposure().unwrap_err().var, "HTTP_ADDR");
        let disabled =
            load(&[("HTTP_ADDR", "0.0.0.0:8080"), ("WFA_AUTH_DISABLED", "true")]).unwrap();
        disabled.check_auth_exposure().unwrap();
    }

    #[test]
    fn flags_map_to_variables() {
        let flags = parse_flags(
            ["--http-addr", "127.0.0.1:9", "--log-format=json"]
                .map(String::from)
                .into_iter(),
        )
        .unwrap();
        assert_eq!(flags["HTTP_ADDR"], "127.0.0.1:9");
        assert_eq!(flags["LOG_FORMAT"], "json");
        assert!(parse_flags(["--nope", "1"].map(String::from).into_iter()).is_err());
    }
}
