//! `wfa <command>`: the API from a terminal. Serving stays what `wfa` does without a command.
//!
//! Exit codes: 0 done (for `trigger --wait`: the execution succeeded); 1 the execution failed,
//! was cancelled, or did not end within `--timeout`; 2 a bad file, or a request the server
//! refused (its error, naming the field, is printed); 3 the server could not be reached or
//! failed.

mod apply;
mod client;
mod output;

use clap::{Parser, Subcommand, ValueEnum};
use client::{Client, Failure};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The command names, so that `main` can tell a command from serving flags.
const COMMANDS: [&str; 9] = [
    "apply",
    "get",
    "list",
    "delete",
    "trigger",
    "executions",
    "pause",
    "resume",
    "help",
];

#[derive(Parser)]
#[command(
    name = "wfa",
    version,
    about = "Workflow Automation System: the API from a terminal"
)]
struct Cli {
    /// The API's base URL.
    #[arg(
        long,
        env = "WFA_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    server: String,
    /// The API's bearer token, when it requires one.
    #[arg(long, env = "WFA_API_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Create or update workflows from JSON or YAML files (several documents, or a JSON array,
    /// apply one workflow each; `-` reads standard input).
    Apply {
        #[arg(short = 'f', long = "file", required = true)]
        files: Vec<PathBuf>,
    },
    /// Print one workflow as JSON.
    Get { id: String },
    /// List workflows.
    List {
        /// periodic, cron or manual.
        #[arg(long)]
        trigger_type: Option<String>,
        /// idle, busy or pending.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        paused: Option<bool>,
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Delete a workflow (its executions that have not ended are cancelled).
    Delete { id: String },
    /// Trigger a workflow; with --wait, wait for the execution to end and exit 0 only if it
    /// succeeded.
    Trigger {
        id: String,
        #[arg(long)]
        wait: bool,
        /// How long --wait waits.
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        timeout: Duration,
        /// A repeat with the same key gets the same execution.
        #[arg(long)]
        idempotency_key: Option<String>,
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// List a workflow's executions, newest first.
    Executions {
        id: String,
        /// Only executions in this status.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Pause a workflow: no slot fires and no trigger is taken until it is resumed.
    Pause { id: String },
    /// Resume a workflow; its catch-up policy decides what the missed slots do.
    Resume { id: String },
}

/// Whether these arguments name a command (rather than serving settings).
pub fn is_command(args: &[String]) -> bool {
    args.get(1).is_some_and(|a| COMMANDS.contains(&a.as_str()))
}

/// The commands, for the serving `--help`.
pub fn summary() -> String {
    "\nCommands (wfa <command> --help): apply, get, list, delete, trigger, executions, pause, \
     resume; --server (WFA_SERVER) and --token (WFA_API_TOKEN) say which API.\n"
        .to_string()
}

pub async fn run(args: Vec<String>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { 2 } else { 0 });
        }
    };
    let client = match Client::new(&cli.server, cli.token.as_deref()) {
        Ok(client) => client,
        Err(failure) => return failure.report(),
    };
    match execute(&client, cli.command).await {
        Ok(code) => code,
        Err(failure) => failure.report(),
    }
}

async fn execute(client: &Client, command: Command) -> Result<ExitCode, Failure> {
    match command {
        Command::Apply { files } => apply::apply(client, &files).await,
        Command::Get { id } => {
            let workflow = client.get(&["workflows", &id], &[]).await?;
            output::json(&workflow);
            Ok(ExitCode::SUCCESS)
        }
        Command::List {
            trigger_type,
            status,
            paused,
            output,
        } => {
            let mut query = Vec::new();
            query.extend(trigger_type.map(|t| ("triggerType", t)));
            query.extend(status.map(|s| ("status", s)));
            query.extend(paused.map(|p| ("paused", p.to_string())));
            let workflows = client.all_pages(&["workflows"], query).await?;
            match output {
                Output::Json => output::json(&serde_json::Value::Array(workflows)),
                Output::Table => output::workflows(&workflows),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Delete { id } => {
            client.delete(&["workflows", &id]).await?;
            println!("workflow {id} deleted");
            Ok(ExitCode::SUCCESS)
        }
        Command::Trigger {
            id,
            wait,
            timeout,
            idempotency_key,
            output,
        } => {
            let accepted = client.trigger(&id, idempotency_key.as_deref()).await?;
            let execution_id = accepted["executionId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if !wait {
                match output {
                    Output::Json => output::json(&accepted),
                    Output::Table => println!(
                        "execution {execution_id} {}",
                        accepted["status"].as_str().unwrap_or("")
                    ),
                }
                return Ok(ExitCode::SUCCESS);
            }
            let execution = client.wait_for_end(&execution_id, timeout).await?;
            match output {
                Output::Json => output::json(&execution),
                Output::Table => output::execution(&execution),
            }
            Ok(match execution["status"].as_str() {
                Some("succeeded") => ExitCode::SUCCESS,
                _ => ExitCode::from(1),
            })
        }
        Command::Executions {
            id,
            status,
            limit,
            output,
        } => {
            let mut query = vec![("limit", limit.clamp(1, 500).to_string())];
            query.extend(status.map(|s| ("status", s)));
            let page = client
                .get(&["workflows", &id, "executions"], &query)
                .await?;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            match output {
                Output::Json => output::json(&serde_json::Value::Array(items)),
                Output::Table => output::executions(&items),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Pause { id } => pause_or_resume(client, &id, "pause").await,
        Command::Resume { id } => pause_or_resume(client, &id, "resume").await,
    }
}

async fn pause_or_resume(client: &Client, id: &str, verb: &str) -> Result<ExitCode, Failure> {
    let workflow = client.post(&["workflows", id, verb], None).await?;
    let state = if workflow["paused"] == true {
        "paused"
    } else {
        "resumed"
    };
    println!("workflow {id} {state}");
    Ok(ExitCode::SUCCESS)
}
