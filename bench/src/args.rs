//! Command-line options. Hand-parsed: a handful of flags do not justify another dependency.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;

/// The rows `--only` selected; empty runs them all. Process-wide: every step consults it.
static ONLY: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Whether the row named `name` is to run.
pub fn selected(name: &str) -> bool {
    ONLY.get()
        .is_none_or(|only| only.iter().any(|prefix| name.starts_with(prefix.as_str())))
}

/// Whether `--only` left some rows out.
pub fn filtered() -> bool {
    ONLY.get().is_some()
}

pub const USAGE: &str = "\
usage: cargo run --release -p bench -- [options]

  --transport embedded|kafka  execution transport of the product (default embedded)
  --kafka-brokers ADDR        use this broker instead of starting tansu (kafka only)
  --database-url URL          run the product on this store (e.g. mongodb://HOST:PORT/DBNAME,
                              an empty database) instead of a temp SQLite file
  --quick                     reduced run, under a minute, every row still printed
  --out PATH                  JSON results (default bench/results.json)
  --wfa PATH                  product binary to run; skips `cargo build --release --bin wfa`
  --concurrency N             concurrent clients for create/accept/e2e/limit (default 64)
  --threads N                 worker threads of the bench's own runtime (default 2)
  --e2e N                     end-to-end executions (default 20000, quick 2000)
  --inflight N                e2e executions kept in flight at once (default 4000, at most half the manual workflows)
  --waiting N                 executions left waiting for a worker in the `waiting` row (default 1000, quick 200)
  --periodic N                periodic workflows for the lateness row (default 10000, quick 1000)
  --lateness-secs S           lateness observation window incl. the 5 s creation phase
                              (default 65, quick 15)
  --many N                    periodic workflows of the second lateness row (default 100000,
                              quick 25000)
  --open-rate N               the open-loop row's first rate, in triggers/s, instead of half the
                              e2e row's throughput (to compare binaries at the same load)
  --only ROW[,ROW]            run only the rows whose names start with these (e.g. `lateness
                              100000`, `open loop`); the others print as not measured
";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Embedded,
    Kafka,
}

/// How much work each scenario does; `--quick` shrinks it.
#[derive(Debug, Clone, Serialize)]
pub struct Scale {
    /// Manual workflows created (the `create` row); `accept` and `e2e` reuse them.
    pub workflows: usize,
    pub e2e_executions: usize,
    /// End-to-end executions kept in flight (closed loop).
    pub e2e_inflight: usize,
    pub latency_samples: usize,
    pub periodic_workflows: usize,
    #[serde(serialize_with = "secs")]
    pub lateness_window: Duration,
    /// Wait after the window so late hits for slots inside it still count.
    #[serde(serialize_with = "secs")]
    pub lateness_grace: Duration,
    #[serde(serialize_with = "secs")]
    pub limit_duration: Duration,
    pub limit_sequential: usize,
    /// Workflows of each shape in the steps rows' closed loop.
    pub steps_workers: usize,
    /// Executions of the one-action and DAG shapes; the fan-out runs a fifth as many.
    pub steps_executions: usize,
    /// Executions left waiting on a queue no worker polls (the `waiting` row).
    pub waiting_executions: usize,
    /// How long each open-loop rate runs, and the Kafka floor's loaded loop.
    #[serde(serialize_with = "secs")]
    pub open_loop_duration: Duration,
    /// The open loop's first rate when fixed by `--open-rate` (else half the e2e throughput).
    pub open_loop_rate: Option<usize>,
    /// Periodic workflows of the second lateness row, on a product of its own.
    pub many_periodic_workflows: usize,
    /// Timed GETs of each dashboard page.
    pub dashboard_samples: usize,
    /// Cron workflows all due in the same second (the `burst` row).
    pub burst_workflows: usize,
}

impl Scale {
    /// Executions the `e2e` row keeps in flight over `workflows` manual workflows: at most half
    /// of them, so a reused one has long finished.
    pub fn in_flight(&self, workflows: usize) -> usize {
        self.e2e_inflight.min(workflows / 2).max(1)
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

#[derive(Debug, Clone)]
pub struct Args {
    pub transport: Transport,
    pub kafka_brokers: Option<String>,
    pub database_url: Option<String>,
    pub quick: bool,
    pub out: PathBuf,
    pub wfa: Option<PathBuf>,
    pub concurrency: usize,
    pub threads: usize,
    pub scale: Scale,
}

/// The bench crate's directory, so defaults do not depend on the caller's cwd.
pub fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn parse() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    let mut transport = Transport::Embedded;
    let mut kafka_brokers = None;
    let mut database_url = None;
    let mut quick = false;
    let mut out = bench_dir().join("results.json");
    let mut wfa = None;
    let mut concurrency = 64;
    let mut threads = 2;
    let (mut e2e, mut inflight, mut periodic, mut window) = (None, None, None, None);
    let (mut waiting, mut many, mut open_rate) = (None, None, None);

    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| anyhow!("{flag} needs a value\n\n{USAGE}"))
        };
        match flag.as_str() {
            "--transport" => {
                transport = match value()?.as_str() {
                    "embedded" => Transport::Embedded,
                    "kafka" => Transport::Kafka,
                    other => bail!("--transport must be embedded or kafka, not {other:?}"),
                }
            }
            "--kafka-brokers" => kafka_brokers = Some(value()?),
            "--database-url" => database_url = Some(value()?),
            "--quick" => quick = true,
            "--out" => out = PathBuf::from(value()?),
            "--wfa" => wfa = Some(PathBuf::from(value()?)),
            "--concurrency" => concurrency = number(&flag, &value()?)?,
            "--threads" => threads = number(&flag, &value()?)?,
            "--e2e" => e2e = Some(number(&flag, &value()?)?),
            "--inflight" => inflight = Some(number(&flag, &value()?)?),
            "--waiting" => waiting = Some(number(&flag, &value()?)?),
            "--periodic" => periodic = Some(number(&flag, &value()?)?),
            "--lateness-secs" => window = Some(number(&flag, &value()?)?),
            "--many" => many = Some(number(&flag, &value()?)?),
            "--open-rate" => open_rate = Some(number(&flag, &value()?)?),
            "--only" => {
                let rows = value()?.split(',').map(|r| r.trim().to_string()).collect();
                ONLY.set(rows).map_err(|_| anyhow!("--only given twice"))?;
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown option {other:?}\n\n{USAGE}"),
        }
    }
    if kafka_brokers.is_some() && transport != Transport::Kafka {
        bail!("--kafka-brokers only makes sense with --transport kafka");
    }
    if concurrency == 0 || threads == 0 {
        bail!("--concurrency and --threads must be at least 1");
    }

    let mut scale = if quick {
        Scale {
            workflows: 2_000,
            e2e_executions: 2_000,
            e2e_inflight: 4_000,
            latency_samples: 50,
            periodic_workflows: 1_000,
            lateness_window: Duration::from_secs(15),
            lateness_grace: Duration::from_secs(3),
            limit_duration: Duration::from_secs(2),
            limit_sequential: 200,
            steps_workers: 16,
            steps_executions: 500,
            waiting_executions: 200,
            open_loop_duration: Duration::from_secs(3),
            open_loop_rate: None,
            many_periodic_workflows: 25_000,
            dashboard_samples: 5,
            burst_workflows: 5_000,
        }
    } else {
        Scale {
            workflows: 10_000,
            e2e_executions: 20_000,
            e2e_inflight: 4_000,
            latency_samples: 200,
            periodic_workflows: 10_000,
            lateness_window: Duration::from_secs(65),
            lateness_grace: Duration::from_secs(5),
            limit_duration: Duration::from_secs(5),
            limit_sequential: 1_000,
            steps_workers: 32,
            steps_executions: 5_000,
            waiting_executions: 1_000,
            open_loop_duration: Duration::from_secs(10),
            open_loop_rate: None,
            many_periodic_workflows: 100_000,
            dashboard_samples: 20,
            burst_workflows: 20_000,
        }
    };
    if let Some(n) = e2e {
        scale.e2e_executions = n;
    }
    if let Some(n) = waiting {
        scale.waiting_executions = n;
    }
    if let Some(n) = inflight {
        scale.e2e_inflight = n;
    }
    if let Some(n) = periodic {
        scale.periodic_workflows = n;
    }
    if let Some(n) = many {
        scale.many_periodic_workflows = n;
    }
    if let Some(r) = open_rate {
        if r == 0 {
            bail!("--open-rate must be at least 1");
        }
        scale.open_loop_rate = Some(r);
    }
    if let Some(s) = window {
        scale.lateness_window = Duration::from_secs(s as u64);
    }
    Ok(Args {
        transport,
        kafka_brokers,
        database_url,
        quick,
        out,
        wfa,
        concurrency,
        threads,
        scale,
    })
}

fn number(flag: &str, v: &str) -> Result<usize> {
    v.parse()
        .with_context(|| format!("{flag} wants a whole number, got {v:?}"))
}
