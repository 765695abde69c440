//! The HTTP/1 server around the router: the accept loop, the limits every
//! connection lives under, and shutdown with a deadline (docs/limits.md).
//!
//! hyper's own `header_read_timeout` also runs while a keep-alive connection waits
//! for its next request, so it cannot tell "slow headers" (10 s) from "idle" (60 s);
//! and tower-http's `TimeoutBody` restarts at every frame, so a body dripping one
//! byte at a time never times out. Hence the small watcher and body deadline here.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until, Instant, Sleep};
use tower::ServiceExt;

use crate::config::Config;

/// What a connection may take, from `--header-timeout-secs` and friends.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From a connection's first byte (or its opening) to a complete request head.
    pub header_timeout: Duration,
    /// From a complete head to the last byte of the body.
    pub body_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// After a stop signal: how long in-flight requests get before connections are cut.
    pub shutdown_grace: Duration,
    /// Threads that serve connections, each on a single-threaded runtime of its own.
    pub threads: usize,
}

impl Limits {
    pub fn of(config: &Config) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(config.header_timeout_secs),
            body_timeout: Duration::from_secs(config.body_timeout_secs),
            idle_timeout: Duration::from_secs(config.idle_timeout_secs),
            max_connections: config.max_connections,
            shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
            threads: match config.http_threads {
                0 => std::thread::available_parallelism().map_or(1, usize::from),
                n => n,
            },
        }
    }
}

/// Serves `app` on `listener` until `stop` completes, then lets in-flight requests
/// finish for at most `shutdown_grace` and cuts whatever is left.
///
/// Connections are served by `limits.threads` threads, each accepting from the same
/// listening socket into a single-threaded runtime of its own: a connection lives on
/// one thread, so a request never wakes a second one. On a work-stealing runtime, every
/// request at concurrency 1 handed its task to a parked worker (futex calls, context
/// switches: 5 system calls per request instead of 3). A busy thread does not accept,
/// so new connections go to the idle ones.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stop: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_lanes, stopped) = watch::channel(false);
    let mut lanes = Vec::new();
    let listener = match listener.into_std() {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(error = %e, "cannot hand the listener to the HTTP threads");
            return;
        }
    };
    for lane in 0..limits.threads.max(1) {
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        let spawned = listener.try_clone().and_then(|listener| {
            let (app, slots, mut stopped) = (app.clone(), slots.clone(), stopped.clone());
            std::thread::Builder::new()
                .name(format!("http-{lane}"))
                .spawn(move || {
                    let served = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .and_then(|runtime| {
                            runtime.block_on(async move {
                                let listener = TcpListener::from_std(listener)?;
                                let stop = async move {
                                    let _ = stopped.wait_for(|stop| *stop).await;
                                };
                                accept_loop(listener, app, limits, slots, stop).await;
                                Ok(())
                            })
                        });
                    if let Err(e) = served {
                        tracing::error!(error = %e, lane, "an HTTP thread could not serve");
                    }
                    drop(done);
                })
        });
        match spawned {
            Ok(thread) => lanes.push((finished, thread)),
            Err(e) => tracing::error!(error = %e, lane, "cannot start an HTTP thread"),
        }
    }
    drop(listener);
    stop.await;
    let _ = stop_lanes.send(true);
    for (finished, thread) in lanes {
        let _ = finished.await;
        // The thread has only its return left to do: joined, it is gone when this returns.
        let _ = thread.join();
    }
}

/// One thread's share of [`serve`]: accepts while a connection slot is free.
async fn accept_loop(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    slots: Arc<Semaphore>,
    stop: impl Future<Output = ()>,
) {
    let (draining, drain_signal) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(stop);
    loop {
        // Beyond the limit a connection is not accepted: it waits in the kernel's
        // backlog (its client sees a slow connect) until a slot frees up.
        let slot = tokio::select! {
            _ = &mut stop => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors (EMFILE) and the like: back off rather than
                    // spin; accepting resumes as soon as connections close.
                    tracing::warn!(error = %e, "accept failed");
                    sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let connection = connection(stream, app.clone(), limits, drain_signal.clone(), slot);
        connections.spawn(connection);
    }
    drop(listener);
    let _ = draining.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            grace_secs = limits.shutdown_grace.as_secs(),
            "shutdown deadline reached: cutting the remaining connections"
        );
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

/// Where a connection is in its request cycle; each phase but `Busy` has a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a request head (from the connection's opening or its first byte).
    Head,
    /// A request is being served, its body read under the body deadline.
    Busy,
    /// Between requests, no byte of the next one yet.
    Idle,
}

#[derive(Debug)]
struct Activity {
    phase: Mutex<(Phase, Instant)>,
    changed: Notify,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            phase: Mutex::new((Phase::Head, Instant::now())),
            changed: Notify::new(),
        }
    }

    fn set(&self, phase: Phase) {
        *self.phase.lock() = (phase, Instant::now());
        self.changed.notify_one();
    }

    /// The first byte after an idle spell starts the header clock.
    fn bytes_arrived(&self) {
        let mut current = self.phase.lock();
        if current.0 == Phase::Idle {
            *current = (Phase::Head, Instant::now());
            drop(current);
            self.changed.notify_one();
        }
    }

    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        let (phase, since) = *self.phase.lock();
        match phase {
            Phase::Head => Some(since + limits.header_timeout),
            Phase::Idle => Some(since + limits.idle_timeout),
            Phase::Busy => None,
        }
    }
}

/// One connection: hyper serves it while the watcher enforces the header and idle
/// deadlines and the drain signal; the request body carries its own deadline.
async fn connection(
    stream: TcpStream,
    app: Router,
    limits: Limits,
    mut drain_signal: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let served = activity.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        served.set(Phase::Busy);
        let expired = Arc::new(AtomicBool::new(false));
        let request = request.map(|body| {
            Body::new(DeadlineBody {
                inner: body,
                deadline: Box::pin(sleep(limits.body_timeout)),
                expired: expired.clone(),
            })
        });
        let answer = app.clone().oneshot(request);
        let served = served.clone();
        async move {
            let response = answer.await.unwrap_or_else(|never| match never {});
            served.set(Phase::Idle);
            Ok::<_, Infallible>(if expired.load(Ordering::Relaxed) {
                body_timeout_answer()
            } else {
                response
            })
        }
    });
    let conn = http1::Builder::new().serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = *drain_signal.borrow();
    if draining {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let deadline = activity.deadline(&limits);
        tokio::select! {
            _ = conn.as_mut() => return,
            changed = drain_signal.changed(), if !draining => {
                draining = true;
                if changed.is_ok() {
                    // Idle connections close now; a request being served finishes first.
                    conn.as_mut().graceful_shutdown();
                }
            }
            _ = activity.changed.notified() => {}
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                if activity.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                    // Slow headers or an idle keep-alive: drop the connection (closes it).
                    return;
                }
            }
        }
    }
}

/// The answer to a request whose body did not arrive within the body timeout.
fn body_timeout_answer() -> Response<Body> {
    let mut response = Response::new(Body::from(r#"{"message":"Request body timeout"}"#));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that fails once its deadline passes, however it trickles in.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    expired: Arc<AtomicBool>,
}

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err("request body timeout".into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The TCP stream, telling the connection's watcher when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
