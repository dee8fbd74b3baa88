//! One HTTP/2 client connection (h2 crate over poll-io) and the task that drives it.
//!
//! The driver task polls the `h2` connection, sends a PING every `ping_interval` and closes
//! the connection when the PONG is not back within `ping_timeout` (a receiver or middlebox
//! that silently stopped answering is found without waiting for `remote_timeout` on every
//! stream). The driver holds only a `Weak` to the handle: when the pool drops the handle and
//! no streams are left, `h2` closes the connection by itself.

use std::{
    cell::Cell,
    rc::{Rc, Weak},
    time::Duration,
};

use bytes::Bytes;
use h2::{client::SendRequest, Ping, PingPong, Reason};

use super::{
    error::Stage,
    io::Stream,
    notify::Notify,
    response::{Response, MAX_ERROR_BODY},
};

/// Connection settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct H2Settings {
    pub(crate) stream_window: u32,
    pub(crate) connection_window: u32,
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
}

/// Lifecycle of a connection as the pool sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum H2State {
    /// Takes new streams.
    Open,
    /// Got GOAWAY or an error: finishes its streams, takes no new ones.
    Draining,
    /// The driver ended.
    Closed,
}

/// Why the driver task ended.
#[derive(Debug)]
pub(crate) enum DriverExit {
    /// The connection finished cleanly (after GOAWAY, or unused and dropped).
    Closed,
    /// Connection-level error.
    Error(h2::Error),
    /// The pool closed it.
    Killed,
    /// No PONG within the timeout.
    PingTimeout,
}

/// How a request on this connection failed.
#[derive(Debug)]
pub(crate) enum H2Failure {
    /// Not processed by the server (GOAWAY, REFUSED_STREAM, or the connection was already
    /// going away): safe to send again on another connection right away.
    Refused(h2::Error),
    /// Failed after it may have been processed.
    Failed { stage: Stage, error: h2::Error },
}

/// Shared between the handle and the driver: lets the pool close the connection.
#[derive(Debug, Default)]
struct KillSwitch {
    killed: Cell<bool>,
    notify: Notify,
}

impl KillSwitch {
    async fn wait(&self) {
        while !self.killed.get() {
            self.notify.listen().await;
        }
    }
}

/// The pool's handle to a connection.
#[derive(Debug)]
pub(crate) struct H2Conn {
    pub(crate) id: u64,
    send: SendRequest<Bytes>,
    pub(crate) in_flight: Cell<usize>,
    state: Cell<H2State>,
    kill: Rc<KillSwitch>,
    /// Set when the driver closed the connection on its own (PING timeout), so that the
    /// streams' "broken pipe" errors can say why.
    ping_timed_out: Cell<bool>,
}

impl H2Conn {
    /// Runs the HTTP/2 handshake on `stream` and spawns the driver task. `on_exit` runs in
    /// that task when the connection ends.
    pub(crate) async fn handshake(
        stream: Stream,
        id: u64,
        settings: H2Settings,
        on_exit: impl FnOnce(u64, DriverExit) + 'static,
    ) -> Result<Rc<Self>, h2::Error> {
        let (send, mut conn) = h2::client::Builder::new()
            .initial_window_size(settings.stream_window)
            .initial_connection_window_size(settings.connection_window)
            .max_send_buffer_size(1 << 20)
            .handshake::<_, Bytes>(stream)
            .await?;
        let ping = conn.ping_pong();
        let handle = Rc::new(Self {
            id,
            send,
            in_flight: Cell::new(0),
            state: Cell::new(H2State::Open),
            kill: Rc::new(KillSwitch::default()),
            ping_timed_out: Cell::new(false),
        });
        let weak = Rc::downgrade(&handle);
        let kill = handle.kill.clone();
        monoio::spawn(async move {
            let exit = monoio::select! {
                r = conn => match r {
                    Ok(()) => DriverExit::Closed,
                    Err(e) => DriverExit::Error(e),
                },
                e = keepalive(ping, settings.ping_interval, settings.ping_timeout) => e,
                _ = kill.wait() => DriverExit::Killed,
            };
            if let Some(h) = Weak::upgrade(&weak) {
                h.state.set(H2State::Closed);
                h.ping_timed_out
                    .set(matches!(exit, DriverExit::PingTimeout));
            }
            on_exit(id, exit);
        });
        Ok(handle)
    }

    /// Whether new streams may go here.
    pub(crate) fn is_open(&self) -> bool {
        self.state.get() == H2State::Open
    }

    /// Streams this connection can carry now: our cap, and the server's SETTINGS.
    pub(crate) fn capacity(&self, cap: usize) -> usize {
        cap.min(self.send.current_max_send_streams())
    }

    /// Whether the connection was closed because a PING went unanswered.
    pub(crate) fn ping_timed_out(&self) -> bool {
        self.ping_timed_out.get()
    }

    /// Closes the connection now (its streams fail).
    pub(crate) fn kill(&self) {
        self.state.set(H2State::Closed);
        self.kill.killed.set(true);
        self.kill.notify.notify_all();
    }

    /// Sends one request with `body` and reads the response (at most `max_drain` body bytes
    /// are read; the stream is reset after that).
    pub(crate) async fn round_trip(
        &self,
        request: http::Request<()>,
        body: &Bytes,
        stage: &Cell<Stage>,
        max_drain: u64,
    ) -> Result<Response, H2Failure> {
        stage.set(Stage::SendingRequest);
        let mut sender = self
            .send
            .clone()
            .ready()
            .await
            .map_err(|e| self.refused(e))?;
        let end_of_stream = body.is_empty();
        let (response, mut body_tx) = sender
            .send_request(request, end_of_stream)
            .map_err(|e| self.refused(e))?;
        if !end_of_stream {
            // Queued, not written: h2 sends it as flow control allows.
            body_tx
                .send_data(body.clone(), true)
                .map_err(|e| self.failed(Stage::SendingRequest, e))?;
        }
        stage.set(Stage::AwaitingResponse);
        let response = response
            .await
            .map_err(|e| self.failed(Stage::AwaitingResponse, e))?;
        stage.set(Stage::ReadingBody);
        let (parts, mut recv) = response.into_parts();
        let mut prefix = Vec::new();
        let mut total: u64 = 0;
        while let Some(chunk) = recv.data().await {
            let chunk = chunk.map_err(|e| self.failed(Stage::ReadingBody, e))?;
            // Ignoring the result: failure means the stream is gone, which the next
            // `data()` reports.
            let _ = recv.flow_control().release_capacity(chunk.len());
            let room = MAX_ERROR_BODY.saturating_sub(prefix.len());
            prefix.extend_from_slice(&chunk[..chunk.len().min(room)]);
            total += chunk.len() as u64;
            if total > max_drain {
                break; // dropping `recv` resets the stream
            }
        }
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body_prefix: Bytes::from(prefix),
        })
    }

    /// An error before the request reached the server.
    fn refused(&self, error: h2::Error) -> H2Failure {
        self.note(&error);
        H2Failure::Refused(error)
    }

    /// An error after sending started: refused only if the server said so.
    fn failed(&self, stage: Stage, error: h2::Error) -> H2Failure {
        self.note(&error);
        let not_processed = error.reason() == Some(Reason::REFUSED_STREAM)
            || (error.is_go_away() && error.is_remote());
        if not_processed {
            H2Failure::Refused(error)
        } else {
            H2Failure::Failed { stage, error }
        }
    }

    /// Stops new streams after GOAWAY or a connection error.
    fn note(&self, error: &h2::Error) {
        if (error.is_go_away() || error.is_io()) && self.state.get() == H2State::Open {
            self.state.set(H2State::Draining);
        }
    }
}

async fn keepalive(ping: Option<PingPong>, interval: Duration, timeout: Duration) -> DriverExit {
    let Some(mut ping) = ping else {
        return std::future::pending().await;
    };
    loop {
        monoio::time::sleep(interval).await;
        match monoio::time::timeout(timeout, ping.ping(Ping::opaque())).await {
            Ok(Ok(_pong)) => {}
            Ok(Err(e)) => return DriverExit::Error(e),
            Err(_elapsed) => return DriverExit::PingTimeout,
        }
    }
}
