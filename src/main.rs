use std::process::ExitCode;

use clap::Parser;
use enos_cert_mock::config::{Cli, Command, LogFormat};
use enos_cert_mock::healthcheck;
use tracing_subscriber::EnvFilter;

// Many small short-lived allocations per request (JSON, DER, PEM): mimalloc spends
// less CPU on them than glibc's allocator and keeps the heap compact at scale.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_logging(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a person at a terminal; redirected logs stay plain.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(colour);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Every device session and HTTP connection is a socket: the soft open-files limit (often
/// 1024) goes up to the hard limit at start, as servers do. The log says what it is.
#[cfg(unix)]
fn raise_open_files_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let shown = |v: Option<u64>| v.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
    if limit.current == limit.maximum {
        tracing::info!(limit = %shown(limit.current), "open files limit (the hard limit)");
        return;
    }
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => tracing::info!(
            from = %shown(limit.current),
            to = %shown(limit.maximum),
            "open files limit raised to the hard limit"
        ),
        Err(e) => tracing::warn!(
            limit = %shown(limit.current),
            hard = %shown(limit.maximum),
            error = %e,
            "open files limit could not be raised to the hard limit"
        ),
    }
}

#[cfg(not(unix))]
fn raise_open_files_limit() {}

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
    raise_open_files_limit();
    let stop = enos_cert_mock::stop_signal();
    match enos_cert_mock::start(cli.config).await {
        Ok(server) => {
            server.serve_until(stop).await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("cannot start: {e}");
            eprintln!("enos-cert-mock: cannot start: {e}");
            ExitCode::FAILURE
        }
    }
}
