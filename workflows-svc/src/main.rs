use shared::Config;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::service_main::run("workflows-svc", |config: Config| async move {
        workflows_svc::run(config, shared::service_main::shutdown_signal()).await
    })
    .await
}
