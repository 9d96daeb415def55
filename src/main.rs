//! `wfa`: the whole system in one process. With no configuration it runs on an embedded SQLite
//! store at ./data/wfa.db and serves the API on 127.0.0.1:8080. With a command (`wfa apply`,
//! `wfa trigger`, …) it is the API's client instead.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if wfa::cli::is_command(&args) {
        return wfa::cli::run(args).await;
    }
    if args.iter().skip(1).any(|a| a == "--help" || a == "-h") {
        print!("{}{}", shared::Config::help("wfa"), wfa::cli::summary());
        return std::process::ExitCode::SUCCESS;
    }
    shared::service_main::run("wfa", |config| async move {
        let listener = wfa::bind(&config).await?;
        wfa::run_all(config, listener, shared::service_main::shutdown_signal()).await
    })
    .await
}
