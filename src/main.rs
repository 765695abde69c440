use std::process::ExitCode;

use clap::Parser;
use enos_cert_mock::config::{Cli, Command, LogFormat};
use enos_cert_mock::healthcheck;
use tracing_subscriber::EnvFilter;

fn init_logging(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { url }) = cli.command {
        let base =
            url.unwrap_or_else(|| healthcheck::default_base(&cli.config.host, cli.config.port));
        return match healthcheck::check(&base).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("unhealthy: {e}");
                ExitCode::FAILURE
            }
        };
    }
    init_logging(&cli.config.log, cli.config.log_format);
    match enos_cert_mock::start(cli.config).await {
        Ok(server) => {
            server.wait_for_signal().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("cannot start: {e}");
            eprintln!("enos-cert-mock: cannot start: {e}");
            ExitCode::FAILURE
        }
    }
}
