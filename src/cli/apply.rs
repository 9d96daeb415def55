//! `wfa apply -f FILE`: each workflow in the files is created, or replaced if it exists.

use super::client::{Client, Failure};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub async fn apply(client: &Client, files: &[PathBuf]) -> Result<ExitCode, Failure> {
    let mut workflows = Vec::new();
    for file in files {
        for (n, document) in read_workflows(file)?.into_iter().enumerate() {
            let Some(id) = document["workflowId"].as_str().map(str::to_string) else {
                return Err(Failure::BadInput(format!(
                    "{}: document {} has no `workflowId`",
                    file.display(),
                    n + 1
                )));
            };
            workflows.push((file, id, document));
        }
    }
    let mut refused = false;
    for (file, id, document) in workflows {
        match upsert(client, &id, &document).await {
            Ok(line) => println!("{line}"),
            Err(Failure::Refused { status, message }) => {
                refused = true;
                eprintln!(
                    "wfa: {}: workflow {id}: {message} (HTTP {})",
                    file.display(),
                    status.as_u16()
                );
            }
            Err(other) => return Err(other),
        }
    }
    Ok(if refused {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

async fn upsert(client: &Client, id: &str, document: &Value) -> Result<String, Failure> {
    match client.post(&["workflows"], Some(document)).await {
        Ok(_) => Ok(format!("workflow {id} created")),
        Err(Failure::Refused { status, .. }) if status == reqwest::StatusCode::CONFLICT => {
            let updated = client.replace(&["workflows", id], document).await?;
            Ok(format!(
                "workflow {id} updated (version {})",
                updated["version"]
            ))
        }
        Err(other) => Err(other),
    }
}

/// The workflow documents of a file: a JSON object or array, or YAML documents (each a
/// workflow, or a list of them).
fn read_workflows(file: &Path) -> Result<Vec<Value>, Failure> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    }
    .map_err(|e| Failure::BadInput(format!("{}: {e}", file.display())))?;
    let is_json = file.extension().is_some_and(|e| e == "json");
    let documents = if is_json {
        serde_json::from_str::<Value>(&text)
            .map(|v| vec![v])
            .map_err(|e| format!("not valid JSON: {e}"))
    } else {
        shared::yaml::documents(&text)
    }
    .map_err(|e| Failure::BadInput(format!("{}: {e}", file.display())))?;
    Ok(documents
        .into_iter()
        .flat_map(|d| match d {
            Value::Array(items) => items,
            one => vec![one],
        })
        .collect())
}
