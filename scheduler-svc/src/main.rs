#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::service_main::run("scheduler-svc", |config| async move {
        scheduler_svc::run(config, shared::service_main::shutdown_signal()).await
    })
    .await
}
