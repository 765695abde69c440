//! `fleet run`: rounds of connect → (hold → ping check → posts → commands) → drop, with the
//! broker's CPU and RSS read at each step.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use mqttbytes::QoS;
use rustls::pki_types::ServerName;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::FleetError;
use crate::fleet_file::{Fleet, Kind};
use crate::measure::{cpu_between, open_files_limit, Broker, Sample};
use crate::session::{connect, hold, Cmd, Device, Mode, Options, Shared, Target, TlsBase};
use crate::stats::{micros, Failures, Latency};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Pick {
    /// RSA and ECC devices interleaved in the fleet's proportion.
    Mix,
    Rsa,
    Ecc,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The directory `fleet provision` wrote.
    #[arg(long)]
    fleet: PathBuf,
    #[arg(long, default_value = "127.0.0.1")]
    host: Ipv4Addr,
    /// The broker's TLS port (for both kinds unless --rsa-port / --ecc-port).
    #[arg(long)]
    port: Option<u16>,
    #[arg(long)]
    rsa_port: Option<u16>,
    #[arg(long)]
    ecc_port: Option<u16>,
    /// The name the broker certificate is checked against (default: --host).
    #[arg(long)]
    server_name: Option<String>,
    /// More roots the devices trust (PEM), for a broker whose certificate is not the mock's.
    #[arg(long)]
    trust: Vec<PathBuf>,
    /// How many devices (0: all of the chosen kind).
    #[arg(long, default_value_t = 0)]
    devices: usize,
    /// Skip this many of the chosen devices first (to split a fleet over processes).
    #[arg(long, default_value_t = 0)]
    offset: usize,
    #[arg(long, value_enum, default_value = "mix")]
    kind: Pick,
    /// Loopback source addresses 127.0.0.1 … 127.0.0.N, round-robin over the devices.
    #[arg(long, default_value_t = 16)]
    sources: u8,
    /// Connections in progress at once; 0: every device at once (a storm).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Each step of a connection (TCP, TLS, CONNACK) must finish within this, seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// MQTT keep-alive, seconds: a PINGREQ after this long without sending.
    #[arg(long, default_value_t = 60)]
    keep_alive: u16,
    /// Connect this many devices and drop them before measuring (builds the broker's lazy state).
    #[arg(long, default_value_t = 0)]
    warmup: usize,
    /// Connect/drop rounds; the first also holds, posts and sends commands.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Seconds to hold every session in the first round, then ping each.
    #[arg(long, default_value_t = 0)]
    hold: u64,
    /// Posts per second, all posters together (0: no posts).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Sessions that post (0: all held).
    #[arg(long, default_value_t = 0)]
    posters: usize,
    /// Seconds of posting.
    #[arg(long, default_value_t = 30)]
    post_secs: u64,
    #[arg(long, value_enum, default_value = "enos")]
    mode: Mode,
    /// QoS of posts (the SDK's: 1).
    #[arg(long, default_value_t = 1)]
    qos: u8,
    /// QoS of the subscription to the answer topic (the SDK's: the request's, 1). For a
    /// broker compared with the mock, the QoS the mock's replies come with.
    #[arg(long, default_value_t = 1)]
    answer_qos: u8,
    /// Commands sent through POST {api}/__admin/mqtt/publish (EnOS mode), answered by the devices.
    #[arg(long, default_value_t = 0)]
    commands: usize,
    #[arg(long, default_value_t = 8)]
    command_concurrency: usize,
    /// The mock's HTTP base URL for commands (default: the one the fleet was provisioned on).
    #[arg(long)]
    api: Option<String>,
    /// The broker's process ids: its CPU time and RSS are read at every step.
    #[arg(long)]
    server_pid: Vec<u32>,
    /// Seconds to wait after a drop before reading the broker's RSS.
    #[arg(long, default_value_t = 2)]
    settle: u64,
    /// A name for the report.
    #[arg(long, default_value = "fleet")]
    label: String,
}

struct Held {
    tx: mpsc::Sender<Cmd>,
    task: JoinHandle<()>,
    dev: Arc<Device>,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// `value * scale / n`, to three decimals.
fn per(value: Option<f64>, n: usize, scale: f64) -> Option<f64> {
    value
        .filter(|_| n > 0)
        .map(|v| (v * scale / n as f64 * 1000.0).round() / 1000.0)
}

fn kib(s: Option<Sample>) -> Option<u64> {
    s.map(|s| s.rss_kib)
}

/// Chooses the devices: the kind, in a mix interleaved in proportion, then offset and count.
fn pick(fleet: &Fleet, kind: Pick, offset: usize, count: usize) -> Vec<usize> {
    let of = |k: Kind| -> Vec<usize> {
        (0..fleet.devices.len())
            .filter(|i| fleet.devices[*i].kind == k)
            .collect()
    };
    let chosen = match kind {
        Pick::Rsa => of(Kind::Rsa),
        Pick::Ecc => of(Kind::Ecc),
        Pick::Mix => {
            let (rsa, ecc) = (of(Kind::Rsa), of(Kind::Ecc));
            let total = rsa.len() + ecc.len();
            let (mut r, mut e) = (0, 0);
            let mut out = Vec::with_capacity(total);
            for n in 1..=total {
                // Keep RSA's share of the first n at its share of the whole.
                if r < rsa.len() && (r * total < n * rsa.len() || e == ecc.len()) {
                    out.push(rsa[r]);
                    r += 1;
                } else {
                    out.push(ecc[e]);
                    e += 1;
                }
            }
            out
        }
    };
    let rest = chosen.into_iter().skip(offset);
    if count == 0 {
        rest.collect()
    } else {
        rest.take(count).collect()
    }
}

struct Run {
    target: Target,
    concurrency: usize,
    shared: Arc<Shared>,
    opts: Arc<Options>,
    broker: Broker,
}

struct Connected {
    held: Vec<Held>,
    report: Value,
}

impl Run {
    /// Connects every device; those that got in are held by their session tasks.
    async fn connect_all(&self, devices: &[Arc<Device>], what: &str) -> Connected {
        let before = self.broker.sample();
        let started = Instant::now();
        let gate = (self.concurrency > 0).then(|| Arc::new(Semaphore::new(self.concurrency)));
        let mut tasks = Vec::with_capacity(devices.len());
        for (i, dev) in devices.iter().enumerate() {
            let (dev, target, gate) = (dev.clone(), self.target.clone(), gate.clone());
            let source = target.sources[i % target.sources.len()];
            tasks.push(tokio::spawn(async move {
                let _permit = match &gate {
                    Some(g) => Some(
                        g.clone()
                            .acquire_owned()
                            .await
                            .expect("the gate stays open"),
                    ),
                    None => None,
                };
                let t0 = Instant::now();
                let result = connect(&dev, &target, source).await;
                (dev, t0.elapsed(), result)
            }));
        }
        let mut held = Vec::with_capacity(devices.len());
        let mut failures = Failures::default();
        let mut times = Vec::with_capacity(devices.len());
        let mut by_kind: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
        for task in tasks {
            let (dev, took, result) = task.await.expect("a connect task panicked");
            match result {
                Ok(stream) => {
                    times.push(micros(took));
                    by_kind[(dev.kind == Kind::Ecc) as usize].push(micros(took));
                    let (tx, rx) = mpsc::channel(4);
                    let task = tokio::spawn(hold(
                        dev.clone(),
                        stream,
                        rx,
                        self.shared.clone(),
                        self.opts.clone(),
                    ));
                    held.push(Held { tx, task, dev });
                }
                Err(e) => failures.add(e.key(), format!("{}: {}", dev.asset_id, e.detail)),
            }
        }
        let elapsed = started.elapsed();
        let after = self.broker.sample();
        let cpu = cpu_between(before, after);
        let connected = held.len();
        let rss_delta = match (kib(before), kib(after)) {
            (Some(a), Some(b)) => Some(b as i64 - a as i64),
            _ => None,
        };
        eprintln!(
            "fleet: {what}: {connected} of {} connected in {:.1?} ({} failed){}",
            devices.len(),
            elapsed,
            failures.total,
            cpu.map(|c| format!(
                "; broker CPU {:.3} ms a connect",
                c * 1000.0 / connected.max(1) as f64
            ))
            .unwrap_or_default()
        );
        let report = json!({
            "attempted": devices.len(),
            "connected": connected,
            "failed": failures.total,
            "failures": failures,
            "limit": limit_text(&failures, devices.len(), connected),
            "seconds": ms(elapsed) / 1000.0,
            "per_second": if elapsed.as_secs_f64() > 0.0 { connected as f64 / elapsed.as_secs_f64() } else { 0.0 },
            "latency": Latency::of(times),
            "latency_rsa": Latency::of(by_kind[0].clone()),
            "latency_ecc": Latency::of(by_kind[1].clone()),
            "server_cpu_s": cpu,
            "server_cpu_ms_per_connect": per(cpu, connected, 1e3),
            "server_rss_kib_before": kib(before),
            "server_rss_kib_after": kib(after),
            "server_rss_kib_per_session": rss_delta.filter(|_| connected > 0).map(|d| (d as f64 / connected as f64 * 100.0).round() / 100.0),
        });
        Connected { held, report }
    }

    /// PINGREQ on every session; how many answered within 30 s.
    async fn ping_all(&self, held: &[Held]) -> Value {
        let started = Instant::now();
        let mut waits = Vec::with_capacity(held.len());
        for h in held {
            let (tx, rx) = oneshot::channel();
            if h.tx.send(Cmd::Ping(tx)).await.is_ok() {
                waits.push(rx);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut answered = 0;
        for rx in waits {
            if tokio::time::timeout_at(deadline, rx)
                .await
                .is_ok_and(|r| r.is_ok())
            {
                answered += 1;
            }
        }
        eprintln!(
            "fleet: ping check: {answered} of {} sessions answered in {:.1?}",
            held.len(),
            started.elapsed()
        );
        json!({"asked": held.len(), "answered": answered, "seconds": started.elapsed().as_secs_f64()})
    }

    /// DISCONNECT everywhere; the broker's RSS after `settle`.
    async fn drop_all(&self, held: Vec<Held>, settle: Duration) -> Value {
        let started = Instant::now();
        let mut waits = Vec::with_capacity(held.len());
        for h in &held {
            let (tx, rx) = oneshot::channel();
            if h.tx.send(Cmd::Drop(tx)).await.is_ok() {
                waits.push(rx);
            }
        }
        for rx in waits {
            let _ = tokio::time::timeout(Duration::from_secs(30), rx).await;
        }
        for h in held {
            let _ = tokio::time::timeout(Duration::from_secs(5), h.task).await;
        }
        let dropped_in = started.elapsed();
        tokio::time::sleep(settle).await;
        let after = self.broker.sample();
        eprintln!(
            "fleet: dropped in {dropped_in:.1?}{}",
            kib(after)
                .map(|k| format!("; broker RSS {:.1} MiB", k as f64 / 1024.0))
                .unwrap_or_default()
        );
        json!({"seconds": dropped_in.as_secs_f64(), "server_rss_kib_after": kib(after)})
    }

    /// `rate` posts a second over `posters` sessions for `secs`; round trips and broker CPU.
    async fn posts(&self, held: &[Held], posters: usize, rate: f64, secs: u64) -> Value {
        let posters = posters.min(held.len());
        if posters == 0 || rate <= 0.0 {
            return Value::Null;
        }
        let every = Duration::from_secs_f64(posters as f64 / rate);
        let (posts0, answered0, lost0, bad0) = (
            self.shared.posts.load(Ordering::Relaxed),
            self.shared.answered.load(Ordering::Relaxed),
            self.shared.lost.load(Ordering::Relaxed),
            self.shared.bad_answers.load(Ordering::Relaxed),
        );
        self.shared.rtt_us.lock().clear();
        // Phases spread evenly over one period, so the whole fleet posts at a steady rate.
        let begin = Instant::now() + Duration::from_secs(2);
        let until = begin + Duration::from_secs(secs);
        for (i, h) in held.iter().take(posters).enumerate() {
            let first = begin + every.mul_f64(i as f64 / posters as f64);
            let _ =
                h.tx.send(Cmd::Posts {
                    every,
                    first,
                    until,
                })
                .await;
        }
        tokio::time::sleep_until(begin).await;
        let before = self.broker.sample();
        tokio::time::sleep_until(until).await;
        let after = self.broker.sample();
        // The last posts (a timer may fire a little late) and their answers still on their way.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let posted = self.shared.posts.load(Ordering::Relaxed) - posts0;
        let answered = self.shared.answered.load(Ordering::Relaxed) - answered0;
        let rtt = Latency::of(std::mem::take(&mut *self.shared.rtt_us.lock()));
        let cpu = cpu_between(before, after);
        eprintln!(
            "fleet: posts: {posted} sent by {posters} sessions in {secs} s ({:.0}/s), {answered} answered; round trip {}{}",
            posted as f64 / secs as f64,
            rtt.p50_p99(),
            cpu.map(|c| format!("; broker CPU {:.1} us a message", c * 1e6 / posted.max(1) as f64)).unwrap_or_default()
        );
        json!({
            "posters": posters,
            "rate_asked": rate,
            "seconds": secs,
            "posted": posted,
            "rate_sent": posted as f64 / secs as f64,
            "answered": answered,
            "unanswered": posted.saturating_sub(answered),
            "lost_after_30s": self.shared.lost.load(Ordering::Relaxed) - lost0,
            "bad_answers": self.shared.bad_answers.load(Ordering::Relaxed) - bad0,
            "answer_qos": self.shared.answer_qos.load(Ordering::Relaxed),
            "subscriptions_refused": self.shared.suback_refused.load(Ordering::Relaxed),
            "round_trip": rtt,
            "server_cpu_s": cpu,
            "server_cpu_us_per_message": per(cpu, posted as usize, 1e6),
            "server_rss_kib_after": kib(after),
        })
    }
}

/// What stopped a connect phase short, in words.
fn limit_text(f: &Failures, attempted: usize, connected: usize) -> Option<String> {
    let (reason, n) = f.main_reason()?;
    let example = f.examples.get(reason).cloned().unwrap_or_default();
    Some(format!(
        "{connected} of {attempted} devices got in; the limit: {reason} ({n} devices; e.g. {example})"
    ))
}

/// Commands through the mock's control plane, each awaiting the device's reply.
async fn commands(api: &str, held: &[Held], count: usize, concurrency: usize) -> Value {
    if count == 0 || held.is_empty() {
        return Value::Null;
    }
    let http = reqwest::Client::new();
    let url = format!("{}/__admin/mqtt/publish", api.trim_end_matches('/'));
    let started = Instant::now();
    let outcomes: Vec<(Result<u32, String>,)> = stream::iter(0..count)
        .map(|n| {
            let (http, url) = (&http, &url);
            let dev = &held[n % held.len()].dev;
            async move {
                let id = format!("cmd-{n}");
                let body = json!({
                    "assetId": dev.asset_id,
                    "topic": dev.command_topic(),
                    "payload": {"id": id, "version": "1.0", "method": "thing.service.measurepoint.set",
                                "params": {"temperature": 21.5}},
                    "qos": 1,
                    "replyTimeoutMs": 10000,
                });
                let t0 = Instant::now();
                let outcome = async {
                    let response = http.post(url).json(&body).send().await.map_err(|e| format!("HTTP: {e}"))?;
                    let status = response.status().as_u16();
                    let answer: Value = response.json().await.map_err(|e| format!("HTTP {status}: {e}"))?;
                    if status != 200 {
                        return Err(format!("HTTP {status}"));
                    }
                    let reply = &answer["reply"];
                    if reply.is_null() {
                        return Err("no reply in time".into());
                    }
                    if reply["payload"]["id"] != id.as_str() {
                        return Err("a reply with another id".into());
                    }
                    Ok(micros(t0.elapsed()))
                }
                .await;
                (outcome,)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut failures = Failures::default();
    let mut times = Vec::new();
    for (o,) in outcomes {
        match o {
            Ok(t) => times.push(t),
            Err(e) => failures.add(e.clone(), e),
        }
    }
    let latency = Latency::of(times);
    eprintln!(
        "fleet: commands: {} of {count} answered in {:.1?}; {}",
        latency.count,
        started.elapsed(),
        latency.p50_p99()
    );
    json!({"sent": count, "answered": latency.count, "failures": failures, "round_trip": latency,
           "seconds": started.elapsed().as_secs_f64()})
}

pub async fn run(args: Args) -> Result<(), FleetError> {
    let fleet = Fleet::read(&args.fleet)?;
    let (rsa_port, ecc_port) = match (args.rsa_port.or(args.port), args.ecc_port.or(args.port)) {
        (Some(r), Some(e)) => (r, e),
        _ => {
            return Err(FleetError::Usage(
                "give --port, or --rsa-port and --ecc-port".into(),
            ))
        }
    };
    let chosen = pick(&fleet, args.kind, args.offset, args.devices);
    if chosen.is_empty() {
        return Err(FleetError::Usage(
            "no device of that kind in the fleet".into(),
        ));
    }
    let files = open_files_limit();
    // Sockets, plus a few files of our own (the runtime, stdio, the HTTP client).
    let room = files.saturating_sub(64) as usize;
    if chosen.len() + args.warmup.min(chosen.len()) > room {
        return Err(FleetError::Usage(format!(
            "{} sessions need more sockets than this process may open (open files limit {files}): \
             run several processes with --offset/--devices, at most {room} sessions each",
            chosen.len()
        )));
    }
    let mut roots = vec![fleet.rsa_root.clone(), fleet.ecc_root.clone()];
    for path in &args.trust {
        roots.push(
            std::fs::read_to_string(path).map_err(|source| FleetError::Read {
                path: path.clone(),
                source,
            })?,
        );
    }
    let base = TlsBase::new(&roots)?;
    let prepared = Instant::now();
    let devices: Vec<Arc<Device>> = chosen
        .iter()
        .map(|i| Device::new(&fleet.devices[*i], &base, args.keep_alive).map(Arc::new))
        .collect::<Result<_, _>>()?;
    let (n_rsa, n_ecc) = (
        devices.iter().filter(|d| d.kind == Kind::Rsa).count(),
        devices.iter().filter(|d| d.kind == Kind::Ecc).count(),
    );
    eprintln!(
        "fleet: {} devices ({n_rsa} RSA, {n_ecc} ECC) ready in {:.1?}; open files limit {files}",
        devices.len(),
        prepared.elapsed()
    );
    let server_name = args
        .server_name
        .clone()
        .unwrap_or_else(|| args.host.to_string());
    let server_name = ServerName::try_from(server_name.clone())
        .map_err(|e| FleetError::Usage(format!("server name {server_name:?}: {e}")))?;
    let sources: Vec<Ipv4Addr> = (1..=args.sources.max(1))
        .map(|i| Ipv4Addr::new(127, 0, 0, i))
        .collect();
    let run = Run {
        target: Target {
            rsa: SocketAddr::from((args.host, rsa_port)),
            ecc: SocketAddr::from((args.host, ecc_port)),
            server_name,
            sources: Arc::new(sources),
            timeout: Duration::from_secs(args.timeout),
        },
        concurrency: args.concurrency,
        shared: Arc::new(Shared::default()),
        opts: Arc::new(Options {
            keep_alive: Duration::from_secs(u64::from(args.keep_alive.max(1))),
            mode: args.mode,
            qos: if args.qos == 0 {
                QoS::AtMostOnce
            } else {
                QoS::AtLeastOnce
            },
            answer_qos: if args.answer_qos == 0 {
                QoS::AtMostOnce
            } else {
                QoS::AtLeastOnce
            },
        }),
        broker: Broker::new(args.server_pid.clone()),
    };
    let settle = Duration::from_secs(args.settle);
    let api = args.api.clone().unwrap_or_else(|| fleet.api.clone());

    let warmup = if args.warmup > 0 {
        let w = run
            .connect_all(&devices[..args.warmup.min(devices.len())], "warm-up")
            .await;
        let connected = w.held.len();
        run.drop_all(w.held, settle).await;
        json!({"connected": connected})
    } else {
        Value::Null
    };
    let start_sample = run.broker.sample();
    let mut rounds = Vec::new();
    let mut first_limit = None;
    for round in 1..=args.rounds.max(1) {
        let c = run
            .connect_all(&devices, &format!("round {round}: connect"))
            .await;
        if first_limit.is_none() {
            first_limit = c.report["limit"].as_str().map(str::to_string);
        }
        let mut report = json!({"round": round, "connect": c.report});
        if round == 1 {
            if args.hold > 0 {
                let ended0 = run.shared.ended.lock().total;
                let started = Instant::now();
                let deadline = started + Duration::from_secs(args.hold);
                while Instant::now() < deadline {
                    let step = (deadline - Instant::now()).min(Duration::from_secs(30));
                    tokio::time::sleep(step).await;
                    eprintln!(
                        "fleet: holding: {:.0} s, {} sessions alive, {} keep-alive pings sent",
                        started.elapsed().as_secs_f64(),
                        run.shared.alive.load(Ordering::Relaxed),
                        run.shared.keepalive_pings.load(Ordering::Relaxed)
                    );
                }
                let ended = run.shared.ended.lock().clone();
                report["hold"] = json!({
                    "seconds": args.hold,
                    "dropped": ended.total - ended0,
                    "why": ended.by_reason,
                    "keepalive_pings": run.shared.keepalive_pings.load(Ordering::Relaxed),
                    "server_rss_kib": kib(run.broker.sample()),
                });
            }
            report["ping_check"] = run.ping_all(&c.held).await;
            report["sessions_held"] = report["ping_check"]["answered"].clone();
            report["posts"] = run
                .posts(
                    &c.held,
                    if args.posters == 0 {
                        c.held.len()
                    } else {
                        args.posters
                    },
                    args.rate,
                    args.post_secs,
                )
                .await;
            if args.mode == Mode::Enos {
                report["commands"] =
                    commands(&api, &c.held, args.commands, args.command_concurrency).await;
            }
        } else {
            report["ping_check"] = run.ping_all(&c.held).await;
        }
        report["drop"] = run.drop_all(c.held, settle).await;
        rounds.push(report);
    }
    let ended = run.shared.ended.lock().clone();
    let result = json!({
        "label": args.label,
        "devices": devices.len(),
        "rsa": n_rsa,
        "ecc": n_ecc,
        "mode": format!("{:?}", args.mode).to_lowercase(),
        "concurrency": args.concurrency,
        "sources": args.sources,
        "keep_alive_s": args.keep_alive,
        "open_files_limit": files,
        "warmup": warmup,
        "server_rss_kib_at_start": kib(start_sample),
        "rounds": rounds,
        "sessions_ended_by_the_broker": ended,
        "limit": first_limit,
    });
    println!("FLEET_RESULT {result}");
    Ok(())
}
