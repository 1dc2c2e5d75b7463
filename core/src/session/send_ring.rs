//! Sends to many sockets in one system call: each thread's io_uring, to which a publish hands its
//! subscribers' writes (one `io_uring_enter` per batch instead of one `send` per subscriber), and
//! the batch that gathers them while their outboxes stay locked.

use std::os::fd::RawFd;

/// Sends per system call, and so the most outbox locks a batch holds at once (each held for about
/// one `send`'s time per entry before it: ~1 ms for a whole batch on loopback).
pub(crate) const BATCH: usize = 256;

/// One send of a batch: `len` bytes at `ptr` to socket `fd`.
#[derive(Clone, Copy)]
pub(crate) struct RingSend {
    pub fd: RawFd,
    pub ptr: *const u8,
    pub len: usize,
}

/// Writes gathered for one system call, each with what ends it (`T`: a subscriber's locked send);
/// without a ring on this thread (another OS, or io_uring refused) nothing is gathered and each is
/// written alone as it comes.
pub(crate) struct SendBatch<T> {
    items: Vec<T>,
    sends: Vec<RingSend>,
    usable: bool,
}

impl<T> SendBatch<T> {
    /// An empty batch for this thread.
    pub fn new() -> Self {
        SendBatch { items: Vec::new(), sends: Vec::new(), usable: usable() }
    }

    /// Whether this thread gathers writes (it has a ring).
    pub fn usable(&self) -> bool {
        self.usable
    }

    /// Whether writes are gathered: their outboxes are locked, so take no more locks by waiting.
    pub fn holding(&self) -> bool {
        !self.items.is_empty()
    }

    /// Gathers `item`'s write of `len` bytes at `ptr` to `fd`.
    ///
    /// # Safety
    /// `ptr..ptr + len` must stay valid for reads, and `fd` an open socket, until
    /// [`SendBatch::send`] returns (the item holds what keeps them so).
    pub unsafe fn push(&mut self, item: T, fd: RawFd, ptr: *const u8, len: usize) {
        self.items.push(item);
        self.sends.push(RingSend { fd, ptr, len });
    }

    /// Whether the batch is as large as one system call takes.
    pub fn full(&self) -> bool {
        self.items.len() >= BATCH
    }

    /// Writes what is gathered in one system call, then hands each item and the bytes its socket
    /// took to `end`; how many items there were.
    pub fn send(&mut self, mut end: impl FnMut(T, usize)) -> usize {
        if self.items.is_empty() {
            return 0;
        }
        let mut taken = [0usize; BATCH];
        // SAFETY: `push`'s contract: every buffer valid and every socket open until here.
        if !unsafe { send_all(&self.sends, &mut taken) } {
            // An earlier batch on this thread found the ring broken for good: each is written alone.
            for (s, n) in self.sends.iter().zip(taken.iter_mut()) {
                // SAFETY: as above.
                *n = unsafe { crate::transport::send_unchecked(s.fd, std::slice::from_raw_parts(s.ptr, s.len)) }
                    .unwrap_or(0);
            }
        }
        self.sends.clear();
        let count = self.items.len();
        for (item, n) in self.items.drain(..).zip(taken) {
            end(item, n);
        }
        count
    }
}

/// Whether this thread can send batches (its ring made on the first call).
#[cfg(not(target_os = "linux"))]
pub(crate) fn usable() -> bool {
    false
}

/// Without io_uring: nothing sent, `false`.
///
/// # Safety
/// None needed: nothing is read.
#[cfg(not(target_os = "linux"))]
unsafe fn send_all(_: &[RingSend], _: &mut [usize]) -> bool {
    false
}

#[cfg(target_os = "linux")]
use ring::send_all;
#[cfg(target_os = "linux")]
pub(crate) use ring::usable;

/// The thread's ring.
#[cfg(target_os = "linux")]
mod ring {
    use std::cell::RefCell;
    use std::io;

    use io_uring::{IoUring, opcode, types};

    use super::{BATCH, RingSend};

    /// A thread's ring, made on its first batch.
    enum Ring {
        Untried,
        /// The ring and the process that made it: a child forked by this thread inherits the
        /// memory it shares with the kernel, and must never write there.
        Ready(Box<IoUring>, u32),
        /// The kernel or a sandbox refuses io_uring (`kernel.io_uring_disabled`, a seccomp profile):
        /// this thread sends one by one.
        Unavailable,
    }

    thread_local! {
        static RING: RefCell<Ring> = const { RefCell::new(Ring::Untried) };
    }

    /// Flags of every send: never block (a full socket takes what it can, or nothing, and the writer
    /// waits for the rest), and a vanished peer is an error rather than SIGPIPE.
    const FLAGS: i32 = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;

    /// `io_uring_enter` flag: wait for completions (`IORING_ENTER_GETEVENTS`).
    const ENTER_GETEVENTS: u32 = 1;

    /// Whether batches are allowed: `WSSESSION_IO_URING=0` (or `off`) turns them off for the
    /// process, for A/B measurements and for sandboxes that report every refused system call.
    /// Read once.
    fn allowed() -> bool {
        static ALLOWED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *ALLOWED.get_or_init(|| match std::env::var("WSSESSION_IO_URING").as_deref() {
            Err(_) | Ok("1" | "on") => true,
            Ok("0" | "off") => false,
            Ok(other) => {
                tracing::warn!(value = other, "WSSESSION_IO_URING not understood (0/off or 1/on): io_uring stays on");
                true
            }
        })
    }

    /// A ring for this thread's batches, or why there is none.
    fn build() -> io::Result<IoUring> {
        if !allowed() {
            return Err(io::Error::other("turned off by WSSESSION_IO_URING"));
        }
        // Only this thread submits to it, and completions need no interrupt of the submitter. These
        // flags need Linux 6.0, which is also where the rest of this module's assumptions are checked
        // (a send flagged MSG_DONTWAIT completes inside the submitting call, never waits for room):
        // an older kernel refuses the ring and its threads send one by one.
        IoUring::builder().setup_single_issuer().setup_coop_taskrun().setup_submit_all().build(BATCH as u32)
    }

    /// Whether this thread can send batches (its ring made on the first call).
    pub(crate) fn usable() -> bool {
        RING.with(|cell| {
            let mut ring = cell.borrow_mut();
            match &*ring {
                Ring::Untried => {
                    *ring = match build() {
                        Ok(r) => Ring::Ready(Box::new(r), std::process::id()),
                        Err(e) => {
                            tracing::debug!(error = %e, "io_uring unavailable: publishes send to each subscriber alone");
                            Ring::Unavailable
                        }
                    };
                }
                // Forked since: the parent's ring is left alone, and not even dropped here (a forked
                // child of a threaded process may find the allocator's lock held).
                Ring::Ready(_, pid) if *pid != std::process::id() => {
                    std::mem::forget(std::mem::replace(&mut *ring, Ring::Unavailable));
                }
                _ => {}
            }
            matches!(*ring, Ring::Ready(..))
        })
    }

    /// Sends every entry of `sends` (at most [`BATCH`]) in one system call, none blocking, and writes
    /// into `taken` how many bytes each socket took (0 when it took nothing or failed: the writer
    /// meets the error on its own write). `false` when this thread has no ring ([`usable`] said so):
    /// nothing was sent, and the caller sends one by one.
    ///
    /// # Safety
    /// Every `fd` must be an open socket and every buffer valid for reads until this returns.
    pub(super) unsafe fn send_all(sends: &[RingSend], taken: &mut [usize]) -> bool {
        debug_assert!(sends.len() <= BATCH && taken.len() >= sends.len());
        RING.with(|cell| {
            let mut ring = cell.borrow_mut();
            let Ring::Ready(r, _) = &mut *ring else { return false };
            if submit(r, sends, taken).is_err() {
                // The ring failed in a way a retry does not mend: what it sent is in `taken`, the rest
                // counts as not taken (the writer sends it), and this thread sends one by one from
                // now on. Dropping the ring discards the entries it never took in.
                *ring = Ring::Unavailable;
            }
            true
        })
    }

    /// Queues `sends` on `ring`, submits them and waits for every completion.
    fn submit(ring: &mut IoUring, sends: &[RingSend], taken: &mut [usize]) -> io::Result<()> {
        taken[..sends.len()].fill(0);
        {
            let mut sq = ring.submission();
            for (i, s) in sends.iter().enumerate() {
                let len = u32::try_from(s.len).unwrap_or(u32::MAX);
                let entry = opcode::Send::new(types::Fd(s.fd), s.ptr, len).flags(FLAGS).build().user_data(i as u64);
                // SAFETY: the caller of `send_all` keeps the socket open and the buffer valid until every
                // completion is in (this function returns only then); the queue holds `BATCH` entries
                // and is empty between batches.
                if unsafe { sq.push(&entry) }.is_err() {
                    return Err(io::Error::other("submission queue full"));
                }
            }
        }
        let mut seen = 0;
        while seen < sends.len() {
            // Non-blocking sends complete inside the submitting call; the wait only returns at once.
            match ring.submit_and_wait(sends.len() - seen) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) => {}
                Err(e) => {
                    // The failed call took in nothing: what is still queued never reached the kernel
                    // (it stays unsent, reported as nothing taken), and what an earlier call took in
                    // is waited for, so no buffer is read after this returns.
                    seen += drain(ring, taken);
                    let never_sent = ring.submission().len();
                    wait_for(ring, sends.len() - seen - never_sent, taken)?;
                    return Err(e);
                }
            }
            seen += drain(ring, taken);
        }
        Ok(())
    }

    /// Records the completions in the queue; how many there were.
    fn drain(ring: &mut IoUring, taken: &mut [usize]) -> usize {
        let mut n = 0;
        for cqe in ring.completion() {
            taken[cqe.user_data() as usize] = usize::try_from(cqe.result()).unwrap_or(0);
            n += 1;
        }
        n
    }

    /// Waits, without submitting, for `left` sends the kernel already took in, recording them.
    fn wait_for(ring: &mut IoUring, mut left: usize, taken: &mut [usize]) -> io::Result<()> {
        while left > 0 {
            // SAFETY: no submissions and no argument: only waits for `left` completions.
            match unsafe { ring.submitter().enter::<libc::sigset_t>(0, left as u32, ENTER_GETEVENTS, None) } {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => return Err(e),
            }
            left = left.saturating_sub(drain(ring, taken));
        }
        Ok(())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    /// A loopback connection: the client end, and the server end (non-blocking) the batches write to.
    fn connected(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        (client, server)
    }

    fn listener() -> TcpListener {
        TcpListener::bind("127.0.0.1:0").unwrap()
    }

    #[test]
    fn a_batch_reaches_every_socket_and_reports_what_each_took() {
        if !usable() {
            eprintln!("io_uring unavailable here: nothing to test");
            return;
        }
        let listener = listener();
        let mut pairs: Vec<_> = (0..4).map(|_| connected(&listener)).collect();
        let messages: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 10 + i as usize]).collect();
        let mut sends: Vec<RingSend> = pairs
            .iter()
            .zip(&messages)
            .map(|((_, s), m)| RingSend { fd: s.as_raw_fd(), ptr: m.as_ptr(), len: m.len() })
            .collect();
        // The fifth socket is shut for writing: its send fails and counts as nothing taken.
        let (closed, closed_server) = connected(&listener);
        closed_server.shutdown(Shutdown::Write).unwrap();
        drop(closed);
        sends.push(RingSend { fd: closed_server.as_raw_fd(), ptr: messages[4].as_ptr(), len: messages[4].len() });
        let mut taken = vec![usize::MAX; sends.len()];
        // SAFETY: every socket and message lives until the end of the test.
        assert!(unsafe { send_all(&sends, &mut taken) });
        assert_eq!(&taken[..4], &[10, 11, 12, 13], "each open socket took its whole message");
        assert_eq!(taken[4], 0, "a socket shut for writing took nothing");
        for ((client, _), m) in pairs.iter_mut().zip(&messages) {
            let mut got = vec![0; m.len()];
            client.read_exact(&mut got).unwrap();
            assert_eq!(&got, m, "each peer reads its own message");
        }
    }

    #[test]
    fn a_child_forked_after_a_batch_leaves_the_parents_ring_alone() {
        if !usable() {
            eprintln!("io_uring unavailable here: nothing to test");
            return;
        }
        // SAFETY: the child only reads its pid, updates this thread's ring slot without allocating,
        // and exits without unwinding or running destructors.
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            let code = if usable() { 1 } else { 0 };
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked.
        assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the child finds no ring to use");
        assert!(usable(), "the parent keeps its ring");
        let (mut client, server) = connected(&listener());
        let sends = [RingSend { fd: server.as_raw_fd(), ptr: b"still".as_ptr(), len: 5 }];
        let mut taken = [0usize; 1];
        // SAFETY: the socket and the bytes live until the end of the test.
        assert!(unsafe { send_all(&sends, &mut taken) });
        assert_eq!(taken[0], 5, "and it still sends");
        let mut got = [0u8; 5];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"still");
    }

    #[test]
    fn a_full_socket_takes_part_of_a_large_send_and_the_rest_is_reported_untaken() {
        if !usable() {
            eprintln!("io_uring unavailable here: nothing to test");
            return;
        }
        let (_client, server) = connected(&listener());
        let big = vec![7u8; 64 << 20];
        let sends = [RingSend { fd: server.as_raw_fd(), ptr: big.as_ptr(), len: big.len() }];
        let mut taken = [0usize; 1];
        // SAFETY: the socket and the buffer live until the end of the test.
        assert!(unsafe { send_all(&sends, &mut taken) });
        assert!(taken[0] > 0 && taken[0] < big.len(), "a peer that reads nothing takes part: {}", taken[0]);
        // SAFETY: as above.
        assert!(unsafe { send_all(&sends, &mut taken) });
        assert_eq!(taken[0], 0, "and then nothing, without blocking");
    }
}
