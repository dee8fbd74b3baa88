//! A single-threaded "something changed, look again" signal for tasks on one monoio runtime.
//!
//! Waiters compare a generation number, so a notification between a waiter's check and its
//! registration is never lost, and a dropped waiter (e.g. on timeout) leaves nothing behind
//! that matters.

use std::{
    cell::{Cell, RefCell},
    future::Future,
    pin::Pin,
    task::{Context, Poll, Waker},
};

/// Wakes every current waiter on [`Notify::notify_all`].
#[derive(Debug, Default)]
pub(crate) struct Notify {
    generation: Cell<u64>,
    wakers: RefCell<Vec<Waker>>,
}

impl Notify {
    /// Wakes all waiters created before this call.
    pub(crate) fn notify_all(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        let wakers = std::mem::take(&mut *self.wakers.borrow_mut());
        for w in wakers {
            w.wake();
        }
    }

    /// A future that completes at the next `notify_all` after this call.
    pub(crate) fn listen(&self) -> Listen<'_> {
        Listen {
            notify: self,
            generation: self.generation.get(),
        }
    }
}

/// See [`Notify::listen`].
#[derive(Debug)]
pub(crate) struct Listen<'a> {
    notify: &'a Notify,
    generation: u64,
}

impl Future for Listen<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.notify.generation.get() != self.generation {
            return Poll::Ready(());
        }
        let mut wakers = self.notify.wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            atomic::{AtomicUsize, Ordering},
            Arc,
        },
        task::Wake,
    };

    use super::*;

    struct Counter(AtomicUsize);
    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn listen_completes_only_after_notify() {
        let n = Notify::default();
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut a = Box::pin(n.listen());
        assert!(a.as_mut().poll(&mut cx).is_pending());
        assert!(a.as_mut().poll(&mut cx).is_pending());
        n.notify_all();
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            1,
            "woken once, not per poll"
        );
        assert!(a.as_mut().poll(&mut cx).is_ready());
        // A listener created after the notification waits for the next one.
        let mut b = Box::pin(n.listen());
        assert!(b.as_mut().poll(&mut cx).is_pending());
        n.notify_all();
        assert!(b.as_mut().poll(&mut cx).is_ready());
    }
}
