//! Callbacks on the application's own thread: a queue of pending callbacks, an eventfd that is
//! readable while the queue is not empty, and `wss_server_dispatch`, which runs them.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

/// One pending callback.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// Pending callbacks of one server in WSS_CALLBACK_MODE_DISPATCH.
pub(crate) struct Dispatcher {
    queue: Mutex<Queue>,
    event: OwnedFd,
    /// Held while callbacks run, so they never run on two threads at once (nor re-entrantly).
    running: Mutex<()>,
}

struct Queue {
    jobs: VecDeque<Job>,
    /// After the server is freed nothing dispatches: late completions run where they happen.
    closed: bool,
}

impl Dispatcher {
    /// A dispatcher with its eventfd (non-blocking, close-on-exec).
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: eventfd has no memory preconditions; a negative result is an error.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        let event = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self { queue: Mutex::new(Queue { jobs: VecDeque::new(), closed: false }), event, running: Mutex::new(()) })
    }

    /// The descriptor to poll for readability.
    pub(crate) fn fd(&self) -> RawFd {
        self.event.as_raw_fd()
    }

    fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd. It cannot fail short of the counter
        // overflowing, which one pending signal never reaches.
        unsafe { libc::write(self.event.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    fn clear(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64; EAGAIN (nothing signalled) leaves it untouched.
        unsafe { libc::read(self.event.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
    }

    /// Queues `job` for the next dispatch (signalling the eventfd when the queue was empty); after
    /// `close` runs it at once instead.
    pub(crate) fn post(&self, job: Job) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.closed {
            drop(q);
            job();
            return;
        }
        let was_empty = q.jobs.is_empty();
        q.jobs.push_back(job);
        drop(q);
        if was_empty {
            self.signal();
        }
    }

    /// Runs up to `max` queued callbacks (0: those queued when it started) on the calling thread and
    /// returns how many ran; `None` if callbacks are already running (another thread, or a callback
    /// calling this). The eventfd stays readable while callbacks remain queued.
    pub(crate) fn run(&self, max: usize) -> Option<usize> {
        let _running = match self.running.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        // Cleared before taking jobs: a job posted after this signals again.
        self.clear();
        let limit = match max {
            0 => self.queue.lock().unwrap_or_else(|e| e.into_inner()).jobs.len(),
            n => n,
        };
        let mut ran = 0;
        while ran < limit {
            let Some(job) = self.queue.lock().unwrap_or_else(|e| e.into_inner()).jobs.pop_front() else { break };
            job();
            ran += 1;
        }
        if !self.queue.lock().unwrap_or_else(|e| e.into_inner()).jobs.is_empty() {
            self.signal();
        }
        Some(ran)
    }

    /// Runs everything queued and makes later posts run at once (the server is being freed).
    pub(crate) fn close(&self) {
        loop {
            let jobs = {
                let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                if q.jobs.is_empty() {
                    q.closed = true;
                    return;
                }
                std::mem::take(&mut q.jobs)
            };
            let _running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            for job in jobs {
                job();
            }
        }
    }
}
