#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::service_main::run("runner-svc", |config| async move {
        runner_svc::run(config, shared::service_main::shutdown_signal()).await
    })
    .await
}
