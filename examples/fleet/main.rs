//! A fleet of devices against one MQTT broker: the load generator of issue 27.
//!
//! Two steps, each a subcommand:
//!
//! * `fleet provision --api URL --out DIR --rsa N --ecc M`: through the mock's HTTP API, a
//!   bi-directional product, N + M devices (one `POST /__admin/bulk/devices`, then each
//!   device's secret from `action=get`), and one certificate per device from
//!   `action=apply` with the device's own key (RSA-2048 or P-256; keys are cached in
//!   `--key-cache`, since RSA key generation is the slow part). Writes `DIR/fleet.json`
//!   (devices, secrets, keys, certificates) and the roots and CRLs as PEM (`roots.pem`,
//!   `rsa-root.pem`, `ecc-root.pem`, `crls.pem`) for other brokers.
//! * `fleet run --fleet DIR --port P ...`: connects the devices over mutual TLS with the EnOS
//!   login (MQTT 3.1.1, client id `dk|securemode=2,signmethod=hmacsha256,timestamp=..|`,
//!   user name `dk&pk`, password the SHA-256 of the sorted content and the secret, as the
//!   official SDK sends it), from several loopback source addresses so the ephemeral port
//!   range is not the limit; holds them with keep-alive (PINGREQ) traffic; checks that every
//!   session still answers a PING; drives the conversation (measure-point posts awaiting
//!   their `_reply` at a given rate; commands through `POST /__admin/mqtt/publish` that the
//!   devices answer on `_reply`); drops them; and repeats for `--rounds`. With
//!   `--server-pid`, it reads the broker's CPU time and RSS from `/proc` at every step.
//!   It prints one line `FLEET_RESULT {json}` on stdout; progress goes to stderr. When
//!   devices do not get in, it says why (what failed, at which step, how often): the limit
//!   it ran into.
//!
//! The same run works against any MQTT broker that does mutual TLS (`--mode echo`: the
//! devices subscribe to their own post topic and time the delivery instead of a `_reply`;
//! how bench/bench.py drives mosquitto), and against `examples/mqtt_handshake_floor.rs`.
//! Device keys are `rustls` keys; the TLS 1.2 suites each device offers follow the official
//! Python SDK's presets (RSA devices ECDHE-RSA only, ECC devices ECDHE-ECDSA only), so an
//! RSA device gets the broker's RSA leaf and an ECC device its ECDSA leaf. Resumption is
//! off: every connection is a full handshake, as a device's first connection is.

mod error;
mod fleet_file;
mod measure;
mod provision;
mod run;
mod session;
mod stats;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(about = "A fleet of EnOS devices against one MQTT broker (issue 27)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Products, devices, keys and certificates through the mock's API.
    Provision(provision::Args),
    /// Connect, hold, converse, drop; repeat.
    Run(run::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    measure::raise_open_files_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Provision(args) => provision::provision(args).await,
            Command::Run(args) => run::run(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleet: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
