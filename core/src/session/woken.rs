//! The I/O of a plain TCP session with `SessionConfig::no_idle_tasks`: no task while it is idle.
//! The session's [`Driver`] is what the reactor wakes when the socket turns readable (and what the
//! session's lifecycle wakes on terminate, close and "our Close was written"); each wake-up runs a
//! short task that reads with the session's [`HostReader`] until the socket would block, registers
//! the wake-up again and ends. A busy connection keeps its task while data keeps coming (no spawn
//! per message). Writes go straight to the socket from the sender; a writer task is spawned only
//! for what the socket did not take, and ends once the queue is empty. The close timeout is a timer
//! armed only while closing.

use std::io::{self, IoSlice};
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, Weak};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use socket2::SockRef;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::host_read::ReadSock;
use super::{End, HostRead, HostReader, Session, State, engine};
use crate::deflate::DeflateParams;
use crate::error::Error;
use crate::protocol::Frame;
use crate::protocol::close::CloseReason;
use crate::transport::{DirectWrite, TcpSide};

/// No task runs for the session.
const IDLE: u8 = 0;
/// A task runs (or is spawned) for the session.
const RUNNING: u8 = 1;
/// A task runs and was woken again meanwhile: it looks once more before it ends.
const NOTIFIED: u8 = 2;
/// The session ended: wake-ups do nothing.
const ENDED: u8 = 3;
/// A task that read messages waits for the next wake-up instead of ending (see [`LINGER`]).
const PARKED: u8 = 4;

/// How long a task that read messages stays parked before it ends (between one and two of these):
/// a busy connection's next message wakes a parked task instead of spawning one.
const LINGER: Duration = Duration::from_secs(1);

/// The drivers whose task may be parked, for the sweeper that ends the tasks parked a whole
/// [`LINGER`] without a wake-up.
static LINGERING: Mutex<Vec<Weak<Driver>>> = Mutex::new(Vec::new());
static SWEEPER: Once = Once::new();

/// Rounds of reading a task does before it yields to the runtime's other tasks.
const ROUNDS: usize = 32;

/// One session's I/O without a task of its own (see the module documentation). Kept alive by the
/// session's outbox (as its direct writer) until the session ends; every wake-up holds it weakly.
pub(super) struct Driver {
    session: Session,
    /// The socket, in tokio's own registration (the reader reads it through the same `Arc`).
    sock: Arc<TcpStream>,
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
    /// The parked task's waker (state PARKED).
    task: Mutex<Option<Waker>>,
    /// The parked task was woken since the sweeper last looked.
    active: AtomicBool,
    /// The driver is in [`LINGERING`].
    listed: AtomicBool,
    /// The sweeper asks the parked task to end.
    retire: AtomicBool,
    /// When the armed close timer fires (the earliest one armed), in nanoseconds after the session
    /// was created, plus one; 0 when none is armed.
    timer: AtomicU64,
    me: Weak<Driver>,
}

/// The wake-up the reactor and the lifecycle hold (`RESUME` false), or the one a stopped reader's
/// resumption calls (`RESUME` true: the reader runs even if the socket is not readable): the
/// driver's weak reference itself (no block of its own), so an idle session is not kept alive by
/// its own registration.
fn wakeup<const RESUME: bool>(driver: Weak<Driver>) -> Waker {
    // SAFETY: the data pointer is a `Weak<Driver>` turned into a raw pointer, which every function
    // of the vtable treats as such (cloned, upgraded, dropped once).
    unsafe { Waker::from_raw(RawWaker::new(Weak::into_raw(driver).cast(), &Wakeup::<RESUME>::VTABLE)) }
}

/// The functions of [`wakeup`]'s wakers.
struct Wakeup<const RESUME: bool>;

impl<const RESUME: bool> Wakeup<RESUME> {
    const VTABLE: RawWakerVTable = RawWakerVTable::new(Self::clone, Self::wake, Self::wake_by_ref, Self::drop);

    /// The waker's `Weak<Driver>`, still owned by the waker.
    ///
    /// # Safety
    /// `data` comes from `Weak::into_raw` in [`wakeup`] and was not dropped.
    unsafe fn borrowed(data: *const ()) -> ManuallyDrop<Weak<Driver>> {
        // SAFETY: as the caller promises.
        ManuallyDrop::new(unsafe { Weak::from_raw(data.cast::<Driver>()) })
    }

    unsafe fn clone(data: *const ()) -> RawWaker {
        // SAFETY: called by `Waker` on its own data.
        let weak = unsafe { Self::borrowed(data) };
        RawWaker::new(Weak::into_raw(Weak::clone(&weak)).cast(), &Self::VTABLE)
    }

    unsafe fn wake(data: *const ()) {
        // SAFETY: called by `Waker` on its own data, which it gives up here.
        let weak = unsafe { Weak::from_raw(data.cast::<Driver>()) };
        if let Some(driver) = weak.upgrade() {
            driver.wake_up(RESUME);
        }
    }

    unsafe fn wake_by_ref(data: *const ()) {
        // SAFETY: called by `Waker` on its own data.
        if let Some(driver) = unsafe { Self::borrowed(data) }.upgrade() {
            driver.wake_up(RESUME);
        }
    }

    unsafe fn drop(data: *const ()) {
        // SAFETY: called by `Waker` on its own data, once.
        drop(unsafe { Weak::from_raw(data.cast::<Driver>()) });
    }
}

impl DirectWrite for Driver {
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        DirectWrite::try_write_vectored(&*self.sock, bufs)
    }
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        DirectWrite::try_write(&*self.sock, buf)
    }
    #[cfg(unix)]
    fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        DirectWrite::raw_fd(&*self.sock)
    }
    fn spawn_writer(&self) -> bool {
        if !self.writer.swap(true, Ordering::AcqRel)
            && let Some(driver) = self.me.upgrade()
        {
            crate::runtime::spawn(async move {
                let mut write = TcpSide(driver.sock.clone());
                engine::write_queued::<TcpStream>(&driver.session, &mut write, Some(&driver.writer)).await;
            });
        }
        true
    }
}

/// Starts a session over a plain TCP socket (kept in tokio's registration) with the driver.
pub(super) fn spawn(
    s: Session,
    tcp: TcpStream,
    leftover: BytesMut,
    tx: Option<mpsc::Sender<Frame>>,
    ext: Option<DeflateParams>,
) {
    let sock = Arc::new(tcp);
    let driver = Arc::new_cyclic(|me: &Weak<Driver>| Driver {
        session: s.clone(),
        sock: sock.clone(),
        reader: Mutex::new(None),
        state: AtomicU8::new(RUNNING),
        force: AtomicBool::new(true),
        stopped: AtomicBool::new(false),
        writer: AtomicBool::new(false),
        task: Mutex::new(None),
        active: AtomicBool::new(false),
        listed: AtomicBool::new(false),
        retire: AtomicBool::new(false),
        timer: AtomicU64::new(0),
        me: me.clone(),
    });
    let direct: Arc<dyn DirectWrite> = driver.clone();
    let reader = HostReader::new(&s, ReadSock::Tokio(sock), Some(direct), leftover, tx, ext);
    reader.set_resume_waker(wakeup::<true>(Arc::downgrade(&driver)));
    *driver.reader.lock().unwrap() = Some(reader);
    super::pinger::restart(&s);
    crate::runtime::spawn(async move {
        driver.session.with_handler(|h| h.on_open(&driver.session));
        std::future::poll_fn(|cx| driver.poll_run(cx)).await
    });
}

/// Every [`LINGER`]: ends the parked tasks that were not woken since the last look.
async fn sweep() {
    loop {
        tokio::time::sleep(LINGER).await;
        let listed = std::mem::take(&mut *LINGERING.lock().unwrap());
        let mut keep = Vec::new();
        for weak in listed {
            let Some(driver) = weak.upgrade() else { continue };
            match driver.state.load(Ordering::Acquire) {
                PARKED if !driver.active.swap(false, Ordering::AcqRel) => {
                    driver.listed.store(false, Ordering::Release);
                    driver.retire.store(true, Ordering::Release);
                    let task = driver.task.lock().unwrap().clone();
                    if let Some(task) = task {
                        task.wake();
                    }
                }
                IDLE | ENDED => driver.listed.store(false, Ordering::Release),
                _ => keep.push(weak),
            }
        }
        LINGERING.lock().unwrap().extend(keep);
    }
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
    /// A wake-up; `resume`: a stopped reader may read again (even if the socket is not readable).
    fn wake_up(self: Arc<Self>, resume: bool) {
        if resume {
            self.force.store(true, Ordering::Release);
        }
        self.schedule();
    }

    /// A wake-up: runs a task unless one runs (then it looks once more).
    fn schedule(self: Arc<Self>) {
        let mut now = self.state.load(Ordering::Acquire);
        loop {
            let next = match now {
                IDLE | PARKED => RUNNING,
                RUNNING => NOTIFIED,
                _ => return,
            };
            match self.state.compare_exchange(now, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) if now == IDLE => {
                    crate::runtime::spawn(async move { std::future::poll_fn(|cx| self.poll_run(cx)).await });
                    return;
                }
                Ok(_) if now == PARKED => {
                    self.active.store(true, Ordering::Release);
                    let task = self.task.lock().unwrap().take();
                    if let Some(task) = task {
                        task.wake();
                    }
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
        if self.state.load(Ordering::Acquire) == PARKED {
            // Only the parked task itself leaves PARKED for IDLE: a wake-up meanwhile makes it run.
            if self.retire.swap(false, Ordering::AcqRel)
                && self.state.compare_exchange(PARKED, IDLE, Ordering::AcqRel, Ordering::Acquire).is_ok()
            {
                self.task.lock().unwrap().take();
                return Poll::Ready(());
            }
            // Polled while parked: keeps this poll's waker, and runs if a wake-up came meanwhile.
            *self.task.lock().unwrap() = Some(cx.waker().clone());
            if self.state.load(Ordering::Acquire) == PARKED {
                return Poll::Pending;
            }
        }
        let messages = self.session.shared.stats.messages_in.load(Ordering::Relaxed);
        for _ in 0..ROUNDS {
            // Wake-ups from here on are seen by this round or make the next one.
            let _ = self.state.compare_exchange(NOTIFIED, RUNNING, Ordering::AcqRel, Ordering::Acquire);
            match self.round() {
                Round::Busy => {}
                Round::Ended => {
                    self.state.store(ENDED, Ordering::Release);
                    self.task.lock().unwrap().take();
                    return Poll::Ready(());
                }
                Round::Idle => {
                    // A task that delivered messages waits for the next ones (a wake-up then costs
                    // no spawn); one that did not ends.
                    if self.session.shared.stats.messages_in.load(Ordering::Relaxed) != messages {
                        if self.park(cx) {
                            return Poll::Pending;
                        }
                    } else if self.state.compare_exchange(RUNNING, IDLE, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                        return Poll::Ready(());
                    }
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Parks the running task until the next wake-up (or the sweeper ends it); `false` when a wake-up
    /// came meanwhile (the caller goes on).
    fn park(&self, cx: &Context<'_>) -> bool {
        *self.task.lock().unwrap() = Some(cx.waker().clone());
        if self.state.compare_exchange(RUNNING, PARKED, Ordering::AcqRel, Ordering::Acquire).is_err() {
            self.task.lock().unwrap().take();
            return false;
        }
        if !self.listed.swap(true, Ordering::AcqRel) {
            LINGERING.lock().unwrap().push(self.me.clone());
            SWEEPER.call_once(|| drop(crate::runtime::spawn(sweep())));
        }
        true
    }

    /// Looks at the session once: ends it if it was terminated or its closing handshake timed out
    /// or completed; otherwise reads what the socket holds.
    fn round(&self) -> Round {
        let s = &self.session;
        let sh = &*s.shared;
        let waker = wakeup::<false>(self.me.clone());
        sh.life.register(&waker);
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
        let mut cx = Context::from_waker(&waker);
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
                // The reader's own read reports a failure; a read that drains the socket clears
                // its readiness.
                Poll::Ready(_) => {}
            }
        }
        match reader.read_some().0 {
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
        let _ = SockRef::from(&*self.sock).shutdown(std::net::Shutdown::Write);
        drop(reader);
        Round::Ended
    }

    /// Wakes the driver at the close deadline (a timer only while closing; another one only if the
    /// timeout was shortened).
    fn arm_timer(&self, deadline: Instant) {
        let at = deadline.saturating_duration_since(self.session.shared.created).as_nanos() as u64 + 1;
        let earlier = |armed: u64| (armed == 0 || armed > at).then_some(at);
        if self.timer.fetch_update(Ordering::AcqRel, Ordering::Acquire, earlier).is_err() {
            return;
        }
        let me = self.me.clone();
        crate::runtime::spawn(async move {
            tokio::time::sleep_until(deadline.into()).await;
            if let Some(driver) = me.upgrade() {
                // A later deadline (the timeout was lengthened) arms a new timer.
                let _ = driver.timer.compare_exchange(at, 0, Ordering::AcqRel, Ordering::Acquire);
                driver.schedule();
            }
        });
    }
}
