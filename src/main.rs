//! `wfa`: the whole system in one process. With no configuration it runs on an embedded SQLite
//! store at ./data/wfa.db and serves the API on 127.0.0.1:8080.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::service_main::run("wfa", |config| async move {
        let listener = wfa::bind(&config).await?;
        wfa::run_all(config, listener, shared::service_main::shutdown_signal()).await
    })
    .await
}
