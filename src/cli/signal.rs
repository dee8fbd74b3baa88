//! SIGINT / SIGTERM and SIGHUP to flags the commands poll.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static HANGUP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    if sig == libc::SIGHUP {
        HANGUP.store(true, Ordering::SeqCst);
    } else {
        INTERRUPTED.store(true, Ordering::SeqCst);
    }
}

/// Routes SIGINT and SIGTERM to [`interrupted`].
pub fn install() {
    route(&[libc::SIGINT, libc::SIGTERM]);
}

/// Routes SIGHUP to [`take_hangup`] (instead of ending the process).
pub fn install_hangup() {
    route(&[libc::SIGHUP]);
}

fn route(signals: &[libc::c_int]) {
    for &sig in signals {
        // SAFETY: `on_signal` is an `extern "C"` function that only stores to atomics,
        // which is async-signal-safe; `signal` is called with a valid signal number.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// Asks for the same clean stop as SIGTERM (`/-/quit`).
pub fn request_stop() {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Whether SIGINT or SIGTERM arrived (or [`request_stop`] was called).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// Whether SIGHUP arrived since the last call (several arrivals count once).
pub fn take_hangup() -> bool {
    HANGUP.swap(false, Ordering::SeqCst)
}
