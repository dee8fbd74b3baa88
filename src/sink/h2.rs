//! HTTP/2 side of the sink (h2c prior knowledge, or after TLS ALPN `h2`).
//!
//! The connection task owns the `h2` server connection and accepts streams; each stream is
//! handled in its own task. Stream tasks ask the connection task for GOAWAY or an abrupt
//! close through a small command queue, since only the owner may call those methods.

use std::{
    cell::RefCell,
    future::poll_fn,
    rc::Rc,
    task::{Poll, Waker},
};

use bytes::{Bytes, BytesMut};
use h2::{server::SendResponse, Reason, RecvStream};
use http::{HeaderName, HeaderValue};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{set_linger_zero, ConnInfo, Ctx, Reply, RequestHead};

/// Requests from stream tasks to the connection task.
#[derive(Clone, Copy, Debug)]
enum Cmd {
    /// Send GOAWAY and drain.
    GoAway,
    /// Reset the TCP connection.
    Kill,
}

#[derive(Default)]
struct Control {
    cmds: RefCell<Vec<Cmd>>,
    waker: RefCell<Option<Waker>>,
}

impl Control {
    fn push(&self, cmd: Cmd) {
        self.cmds.borrow_mut().push(cmd);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// What woke the connection task.
enum Event {
    Stream(Box<(http::Request<RecvStream>, SendResponse<Bytes>)>),
    Failed(h2::Error),
    Closed,
    Kill,
}

/// Serves one HTTP/2 connection until it closes.
pub(super) async fn serve<S: AsyncRead + AsyncWrite + Unpin + 'static>(
    io: S,
    conn: ConnInfo,
    ctx: &Rc<Ctx>,
) {
    let handshake = h2::server::Builder::new()
        .initial_window_size(1 << 20)
        .initial_connection_window_size(16 << 20)
        .max_concurrent_streams(ctx.h2_max_streams)
        .max_send_buffer_size(1 << 20)
        // Go receivers (Mimir, Thanos, VictoriaMetrics) advertise 1 MiB frames; the h2
        // default of 16 KiB would cost the client one writev per 16 KiB.
        .max_frame_size(1 << 20)
        .handshake::<_, Bytes>(io)
        .await;
    let mut connection = match handshake {
        Ok(c) => c,
        Err(error) => {
            tracing::debug!(conn = conn.id, %error, "Sink HTTP/2 handshake failed.");
            return;
        }
    };
    let control = Rc::new(Control::default());
    loop {
        let event = poll_fn(|cx| {
            let cmds: Vec<Cmd> = control.cmds.borrow_mut().drain(..).collect();
            for cmd in cmds {
                match cmd {
                    Cmd::GoAway => connection.graceful_shutdown(),
                    Cmd::Kill => return Poll::Ready(Event::Kill),
                }
            }
            *control.waker.borrow_mut() = Some(cx.waker().clone());
            connection.poll_accept(cx).map(|accepted| match accepted {
                Some(Ok(stream)) => Event::Stream(Box::new(stream)),
                Some(Err(error)) => Event::Failed(error),
                None => Event::Closed,
            })
        })
        .await;
        match event {
            Event::Stream(stream) => {
                let (request, respond) = *stream;
                let ctx = ctx.clone();
                let control = control.clone();
                monoio::spawn(async move {
                    monoio::select! {
                        _ = handle_stream(request, respond, &control, conn, &ctx) => {}
                        _ = ctx.stopped() => {}
                    }
                });
            }
            Event::Failed(error) => {
                tracing::debug!(conn = conn.id, %error, "Sink HTTP/2 connection error.");
                return;
            }
            Event::Closed => return,
            Event::Kill => {
                set_linger_zero(conn.fd);
                return;
            }
        }
    }
}

/// Reads a request body. A body that came in one DATA frame (what Go servers' 1 MiB frame
/// size, which this sink also advertises, gives a remote-write batch) is kept as it is,
/// without a copy; several frames are joined once.
async fn read_body(recv: &mut RecvStream) -> Option<Bytes> {
    let mut first: Option<Bytes> = None;
    let mut joined = BytesMut::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.ok()?;
        let _ = recv.flow_control().release_capacity(chunk.len());
        match first.take() {
            None if joined.is_empty() => first = Some(chunk),
            held => {
                if let Some(held) = held {
                    joined.reserve(held.len() + chunk.len());
                    joined.extend_from_slice(&held);
                }
                joined.extend_from_slice(&chunk);
            }
        }
    }
    Some(first.unwrap_or_else(|| joined.freeze()))
}

async fn handle_stream(
    request: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    control: &Control,
    conn: ConnInfo,
    ctx: &Ctx,
) {
    let (parts, mut recv) = request.into_parts();
    let Some(body) = read_body(&mut recv).await else {
        return; // client reset the stream
    };
    let head = RequestHead {
        method: parts.method,
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.to_string()),
        version: parts.version,
        headers: parts.headers,
    };
    let mut decoder = snap::raw::Decoder::new();
    let request = ctx.received(&conn, head, body, &mut decoder);
    let mut reply = ctx.shared.on_request(request);
    loop {
        match reply {
            Reply::Delay { delay, then } => {
                monoio::time::sleep(delay).await;
                reply = *then;
            }
            Reply::GoAway => {
                respond.send_reset(Reason::REFUSED_STREAM);
                control.push(Cmd::GoAway);
                return;
            }
            Reply::GoAwayAfter(then) => {
                control.push(Cmd::GoAway);
                reply = *then;
            }
            Reply::Hang => std::future::pending::<()>().await,
            Reply::Raw(_) | Reply::Reset => {
                let head = http::Response::new(());
                if let Ok(mut stream) = respond.send_response(head, false) {
                    let _ = stream.send_data(Bytes::from_static(b"partial"), false);
                }
                control.push(Cmd::Kill);
                return;
            }
            Reply::Status {
                status,
                headers,
                body,
            } => {
                let mut response = http::Response::new(());
                *response.status_mut() = http::StatusCode::from_u16(status)
                    .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
                for (name, value) in headers {
                    if let (Ok(n), Ok(v)) = (
                        HeaderName::from_bytes(name.as_bytes()),
                        HeaderValue::from_str(&value),
                    ) {
                        response.headers_mut().append(n, v);
                    }
                }
                match respond.send_response(response, body.is_empty()) {
                    Ok(mut stream) if !body.is_empty() => {
                        let _ = stream.send_data(body, true);
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::debug!(conn = conn.id, %error, "Sink could not send a response.");
                    }
                }
                return;
            }
        }
    }
}
