//! Waiting for a WAL directory to change: inotify where the kernel allows it, plain
//! polling otherwise (inotify can be unavailable: exhausted `max_user_instances`, some
//! container filesystems, network mounts).

use inotify::{Inotify, WatchMask};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

/// How the tailer learns that the directory changed.
pub struct Notifier {
    inotify: Option<Inotify>,
    buf: Vec<u8>,
    poll_interval: Duration,
}

impl Notifier {
    /// Watches `dir`. Falls back to polling every `poll_interval` when inotify is not
    /// available, and says why in the log.
    pub fn new(dir: &Path, poll_interval: Duration, use_inotify: bool) -> Notifier {
        let inotify = if use_inotify {
            match Inotify::init().and_then(|i| {
                i.watches()
                    .add(
                        dir,
                        WatchMask::MODIFY
                            | WatchMask::CREATE
                            | WatchMask::DELETE
                            | WatchMask::MOVED_TO
                            | WatchMask::MOVED_FROM
                            | WatchMask::CLOSE_WRITE,
                    )
                    .map(|_| i)
            }) {
                Ok(i) => Some(i),
                Err(error) => {
                    tracing::warn!(dir = %dir.display(), %error, interval = ?poll_interval,
                        "Inotify unavailable, polling the WAL directory instead.");
                    None
                }
            }
        } else {
            None
        };
        Notifier {
            inotify,
            buf: vec![0; 4096],
            poll_interval,
        }
    }

    /// True when inotify is in use.
    pub fn is_inotify(&self) -> bool {
        self.inotify.is_some()
    }

    /// Blocks until the directory changes or `timeout` passes (with polling: until the
    /// smaller of `timeout` and the poll interval). Returns true if a change was seen.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let Some(ino) = self.inotify.as_mut() else {
            std::thread::sleep(timeout.min(self.poll_interval));
            return false;
        };
        if drain(ino, &mut self.buf) {
            return true;
        }
        // A safety net even with inotify: never sleep longer than the poll interval, so
        // a missed event (queue overflow) costs at most that.
        let ms = timeout
            .min(self.poll_interval)
            .as_millis()
            .min(i32::MAX as u128) as i32;
        let mut pfd = libc::pollfd {
            fd: ino.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `pfd` is a valid, initialised pollfd that lives across the call, and we
        // pass a count of exactly one; the fd is owned by `ino` and open.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        n > 0 && drain(ino, &mut self.buf)
    }
}

/// Reads all pending events without blocking; true if there were any.
fn drain(ino: &mut Inotify, buf: &mut [u8]) -> bool {
    let mut any = false;
    while let Ok(mut evs) = ino.read_events(buf) {
        if evs.next().is_none() {
            break;
        }
        any = true;
    }
    any
}
