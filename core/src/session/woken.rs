//! The I/O of a plain TCP session with `SessionConfig::no_idle_tasks`: no task while it is idle.
//! The session's [`Driver`] is what the reactor wakes when the socket turns readable (and what the
//! session's lifecycle wakes on terminate, close and "our Close was written"); each wake-up runs a
//! short task that reads with the session's [`HostReader`] until the socket would block, registers
//! the wake-up again and ends. A busy connection keeps its task while data keeps coming (no spawn
//! per message). Writes go straight to the socket from the sender; a writer task is spawned only
//! for what the socket did not take, and ends once the queue is empty. The close timeout is a timer
//! armed only while closing.

use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use bytes::BytesMut;
use socket2::SockRef;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

use super::host_read::{self, HostTcp};
use super::{End, HostRead, HostReader, Session, State, engine};
use crate::deflate::DeflateParams;
use crate::error::Error;
use crate::protocol::Frame;
use crate::protocol::close::CloseReason;
use crate::transport::DirectWrite;

/// No task runs for the session.
const IDLE: u8 = 0;
/// A task runs (or is spawned) for the session.
const RUNNING: u8 = 1;
/// A task runs and was woken again meanwhile: it looks once more before it ends.
const NOTIFIED: u8 = 2;
/// The session ended: wake-ups do nothing.
const ENDED: u8 = 3;

/// Rounds of reading a task does before it yields to the runtime's other tasks.
const ROUNDS: usize = 32;

/// One session's I/O without a task of its own (see the module documentation). Kept alive by the
/// session's outbox (as its direct writer) until the session ends; every wake-up holds it weakly.
pub(super) struct Driver {
    session: Session,
    sock: Arc<AsyncFd<std::net::TcpStream>>,
    reader: Mutex<Option<HostReader>>,
    /// IDLE, RUNNING, NOTIFIED or ENDED.
    state: AtomicU8,
    /// The reader must run even if the socket is not readable: bytes are buffered, or a held event
    /// may go on (set at the start and by the resume hook).
    force: AtomicBool,
    /// The reader returned `Stop`: it waits for the resume hook, not for the socket.
    stopped: AtomicBool,
    /// A writer task runs (changed with the outbox locked).
    writer: AtomicBool,
    /// When the armed close timer fires (the earliest one armed).
    timer: Mutex<Option<Instant>>,
    me: Weak<Driver>,
    waker: Waker,
}

/// The wake-up the reactor and the lifecycle hold: a weak reference, so an idle session is not
/// kept alive by its own registration.
struct Wakeup(Weak<Driver>);

impl Wake for Wakeup {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(driver) = self.0.upgrade() {
            driver.schedule();
        }
    }
}

impl DirectWrite for Driver {
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.sock.try_write_vectored(bufs)
    }
    fn spawn_writer(&self) -> bool {
        if !self.writer.swap(true, Ordering::AcqRel)
            && let Some(driver) = self.me.upgrade()
        {
            crate::runtime::spawn(async move {
                let mut write = driver.sock.clone();
                engine::write_queued::<HostTcp>(&driver.session, &mut write, Some(&driver.writer)).await;
            });
        }
        true
    }
}

/// Starts a session over a plain TCP socket with the driver; `false` (the session ended) when the
/// socket cannot be registered.
pub(super) fn spawn(
    s: Session,
    tcp: tokio::net::TcpStream,
    leftover: BytesMut,
    tx: Option<mpsc::Sender<Frame>>,
    ext: Option<DeflateParams>,
) {
    let Some(sock) = host_read::register(&s, tcp, Interest::READABLE | Interest::WRITABLE) else { return };
    let driver = Arc::new_cyclic(|me: &Weak<Driver>| Driver {
        session: s.clone(),
        sock: sock.clone(),
        reader: Mutex::new(None),
        state: AtomicU8::new(RUNNING),
        force: AtomicBool::new(true),
        stopped: AtomicBool::new(false),
        writer: AtomicBool::new(false),
        timer: Mutex::new(None),
        me: me.clone(),
        waker: Waker::from(Arc::new(Wakeup(me.clone()))),
    });
    let direct: Arc<dyn DirectWrite> = driver.clone();
    let reader = HostReader::new(&s, sock, Some(direct), leftover, tx, ext);
    let weak = Arc::downgrade(&driver);
    reader.set_resume_hook(Arc::new(move || {
        if let Some(driver) = weak.upgrade() {
            driver.force.store(true, Ordering::Release);
            driver.schedule();
        }
    }));
    *driver.reader.lock().unwrap() = Some(reader);
    super::pinger::restart(&s);
    crate::runtime::spawn(async move {
        driver.session.with_handler(|h| h.on_open(&driver.session));
        std::future::poll_fn(|cx| driver.poll_run(cx)).await
    });
}

/// What one round of the driver found.
enum Round {
    /// Everything waits for a wake-up.
    Idle,
    /// More may be read now.
    Busy,
    /// The session ended.
    Ended,
}

impl Driver {
    /// A wake-up: runs a task unless one runs (then it looks once more).
    fn schedule(self: Arc<Self>) {
        let mut now = self.state.load(Ordering::Acquire);
        loop {
            let next = match now {
                IDLE => RUNNING,
                RUNNING => NOTIFIED,
                _ => return,
            };
            match self.state.compare_exchange(now, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) if now == IDLE => {
                    crate::runtime::spawn(async move { std::future::poll_fn(|cx| self.poll_run(cx)).await });
                    return;
                }
                Ok(_) => return,
                Err(seen) => now = seen,
            }
        }
    }

    /// The task's body: rounds until everything waits (the task ends) or the budget is spent (it
    /// yields and goes on).
    fn poll_run(&self, cx: &mut Context<'_>) -> Poll<()> {
        for _ in 0..ROUNDS {
            // Wake-ups from here on are seen by this round or make the next one.
            let _ = self.state.compare_exchange(NOTIFIED, RUNNING, Ordering::AcqRel, Ordering::Acquire);
            match self.round() {
                Round::Busy => {}
                Round::Ended => {
                    self.state.store(ENDED, Ordering::Release);
                    return Poll::Ready(());
                }
                Round::Idle => {
                    if self.state.compare_exchange(RUNNING, IDLE, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                        return Poll::Ready(());
                    }
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Looks at the session once: ends it if it was terminated or its closing handshake timed out
    /// or completed; otherwise reads what the socket holds.
    fn round(&self) -> Round {
        let s = &self.session;
        let sh = &*s.shared;
        sh.life.register(&self.waker);
        if sh.life.is_terminated() {
            return self.end(true);
        }
        if let Some(deadline) = engine::close_deadline(sh) {
            if Instant::now() >= deadline {
                return self.end(true);
            }
            self.arm_timer(deadline);
        }
        let mut slot = self.reader.lock().unwrap();
        let Some(reader) = slot.as_mut() else { return Round::Ended };
        if reader.is_done() {
            drop(slot);
            // The peer's Close came or the connection failed: the session ends once our Close is
            // written (the writer wakes the lifecycle when it is).
            let target = sh.outbox.lock().unwrap().conn.close_seq();
            if target.is_none_or(|seq| sh.written.seq() >= seq) {
                return self.end(false);
            }
            return Round::Idle;
        }
        let mut cx = Context::from_waker(&self.waker);
        let mut guard = None;
        if self.force.swap(false, Ordering::AcqRel) {
            self.stopped.store(false, Ordering::Release);
        } else if self.stopped.load(Ordering::Acquire) {
            return Round::Idle;
        } else {
            match self.sock.poll_read_ready(&mut cx) {
                Poll::Pending => {
                    reader.release_buffer();
                    return Round::Idle;
                }
                Poll::Ready(Ok(ready)) => guard = Some(ready),
                // The reader's own read reports the failure.
                Poll::Ready(Err(_)) => {}
            }
        }
        let (next, drained) = reader.read_some();
        if drained && let Some(mut ready) = guard {
            ready.clear_ready();
        }
        match next {
            HostRead::Watch | HostRead::Done => Round::Busy,
            HostRead::Stop => {
                // The resume hook wakes the driver (it may have already: then `force` is set).
                self.stopped.store(true, Ordering::Release);
                Round::Busy
            }
        }
    }

    /// Ends the session (`failed`: terminated or the closing handshake timed out, the recorded cause
    /// stands), shuts the socket and lets the reader go.
    fn end(&self, failed: bool) -> Round {
        let s = &self.session;
        if failed && s.state() != State::Closed {
            let cause = s.shared.outbox.lock().unwrap().conn.cause().cloned().unwrap_or_else(CloseReason::abnormal);
            s.set_end(End::Failed(Error::Closed(Some(cause))));
        }
        let reader = self.reader.lock().unwrap().take();
        if let Some(reader) = &reader {
            reader.close_queue();
        }
        engine::finish(s);
        let _ = SockRef::from(self.sock.get_ref()).shutdown(std::net::Shutdown::Write);
        drop(reader);
        Round::Ended
    }

    /// Wakes the driver at the close deadline (a timer only while closing; another one only if the
    /// timeout was shortened).
    fn arm_timer(&self, deadline: Instant) {
        {
            let mut armed = self.timer.lock().unwrap();
            if armed.is_some_and(|at| at <= deadline) {
                return;
            }
            *armed = Some(deadline);
        }
        let me = self.me.clone();
        crate::runtime::spawn(async move {
            tokio::time::sleep_until(deadline.into()).await;
            if let Some(driver) = me.upgrade() {
                // A later deadline (the timeout was lengthened) arms a new timer.
                let mut armed = driver.timer.lock().unwrap();
                if *armed == Some(deadline) {
                    *armed = None;
                }
                drop(armed);
                driver.schedule();
            }
        });
    }
}
