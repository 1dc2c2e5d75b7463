//! The reader, run by the host's loop: an opt-in mode (`SessionConfig::host_read`) in which an
//! embedder's own event loop (asyncio, libuv) watches the socket and calls
//! [`HostReader::read_ready`] when it is readable. The read, the decoding, the automatic replies
//! and the delivery of messages then happen on the host's thread: no engine thread is woken per
//! message. Sends write directly from the calling thread as in the default mode; what the socket
//! does not take is left to the engine's writer task, which watches only for writability. Timers
//! (pinger, close timeout) and the end of the closing handshake stay on the engine's runtime.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use bytes::BytesMut;
use socket2::SockRef;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

use super::engine::{self, Interrupt};
use super::{End, Session, State, Transport};
use crate::deflate::DeflateParams;
use crate::error::Error;
use crate::protocol::close::CloseReason;
use crate::protocol::{Decoder, Event, Frame};
use crate::transport::{DirectWrite, NO_SIGPIPE};

/// Reads per `read_ready` call at most: a busy connection yields to the host's other work (the
/// host calls again while the socket stays readable).
const MAX_READS: usize = 16;

/// What the host does after [`HostReader::read_ready`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostRead {
    /// Keep watching the socket.
    Watch,
    /// Stop watching (paused, the incoming queue is full, or Pongs wait to be written): the hook
    /// given to [`HostReader::set_resume_hook`] is called once reading may go on.
    Stop,
    /// Nothing more will be read: stop watching and drop the reader.
    Done,
}

/// What the reader and the session's guard task share.
struct Link {
    /// The pull side's queue; dropped by whoever ends the session, so `recv` sees the end.
    tx: Mutex<Option<mpsc::Sender<Frame>>>,
    /// The reader no longer parses the peer's frames (its Close came, or the connection failed).
    stopped: AtomicBool,
    /// Called (from any thread) when a stopped reader may read again.
    resume: Mutex<Option<Resume>>,
}

/// What a stopped reader's resumption calls.
#[derive(Clone)]
enum Resume {
    /// The host's hook ([`HostReader::set_resume_hook`]).
    Hook(Arc<dyn Fn() + Send + Sync>),
    /// The engine's own driver (woken.rs): a waker, no block of its own.
    Waker(Waker),
}

impl Link {
    fn resume(&self) {
        let hook = self.resume.lock().unwrap().clone();
        match hook {
            Some(Resume::Hook(hook)) => hook(),
            Some(Resume::Waker(waker)) => waker.wake(),
            None => {}
        }
    }
}

/// One session's receive side, driven by the host's loop (see the module documentation).
pub struct HostReader {
    session: Session,
    sock: ReadSock,
    buf: BytesMut,
    decoder: Decoder,
    link: Arc<Link>,
    /// A message the full incoming queue could not take yet, or a Ping whose Pong has no room yet.
    /// (Boxed: a reader that holds nothing keeps one pointer for it.)
    held: Option<Box<Event>>,
    done: bool,
}

impl std::fmt::Debug for HostReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostReader").field("session", &self.session.id()).field("fd", &self.fd()).finish()
    }
}

/// The socket a [`HostReader`] reads: an `AsyncFd` watched for writability only (the host's loop
/// watches it for reads), or tokio's own registration (the engine's wake-ups read it, woken.rs).
pub(super) enum ReadSock {
    /// Read when the host's loop says so.
    Host(Arc<AsyncFd<std::net::TcpStream>>),
    /// Read when tokio's reactor says so; a read that drains it clears tokio's read readiness.
    Tokio(Arc<tokio::net::TcpStream>),
}

impl ReadSock {
    /// The socket's descriptor.
    fn fd(&self) -> RawFd {
        match self {
            ReadSock::Host(sock) => sock.get_ref().as_raw_fd(),
            ReadSock::Tokio(tcp) => tcp.as_raw_fd(),
        }
    }

    /// Reads what the socket holds into the spare capacity of `buf` without waiting.
    fn recv(&self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            ReadSock::Host(sock) => {
                let n = SockRef::from(sock.get_ref()).recv(buf.spare_capacity_mut())?;
                // SAFETY: `recv` initialised the first `n` bytes of the spare capacity.
                unsafe { buf.set_len(buf.len() + n) };
                Ok(n)
            }
            ReadSock::Tokio(tcp) => crate::transport::try_read_draining(tcp, buf),
        }
    }
}

/// The socket as the engine's writer sees it: registered for writability only, so that incoming
/// bytes never wake the engine.
pub(crate) struct HostTcp(Arc<AsyncFd<std::net::TcpStream>>);

impl HostTcp {
    /// A connected, non-blocking socket the host's loop reads, registered with the runtime for
    /// writability only (for a `host_read` session: [`spawn`] takes it as it is).
    pub(crate) fn new(tcp: std::net::TcpStream) -> io::Result<HostTcp> {
        let _enter = crate::runtime::runtime().enter();
        // SAFETY: the std stream owns its open descriptor, which it neither closes nor changes while
        // the AsyncFd holds it.
        Ok(HostTcp(Arc::new(unsafe { AsyncFd::register_with_interest(tcp, Interest::WRITABLE) }?)))
    }
}

impl DirectWrite for AsyncFd<std::net::TcpStream> {
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        SockRef::from(self.get_ref()).send_vectored_with_flags(bufs, NO_SIGPIPE)
    }
    /// One buffer (the outbox's coalesced small frames) with `send`: cheaper in the kernel than a
    /// one-slice `sendmsg` (no msghdr/iovec import), as `TcpStream`'s direct write does.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        SockRef::from(self.get_ref()).send_with_flags(buf, NO_SIGPIPE)
    }
    #[cfg(unix)]
    fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(std::os::fd::AsRawFd::as_raw_fd(self))
    }
}

impl Transport for HostTcp {
    type Read = ();
    type Write = Arc<AsyncFd<std::net::TcpStream>>;
    fn split(self) -> (Self::Read, Self::Write, Option<Arc<dyn DirectWrite>>) {
        let direct: Arc<dyn DirectWrite> = self.0.clone();
        ((), self.0, Some(direct))
    }
    async fn readable(_: &()) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "the host's loop reads this socket (HostReader)"))
    }
    async fn read_into(_: &mut (), _: &mut BytesMut) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "the host's loop reads this socket (HostReader)"))
    }
    async fn write_vectored(write: &mut Self::Write, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        loop {
            let mut guard = write.writable().await?;
            match guard.try_io(|fd| fd.try_write_vectored(bufs)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
    async fn flush(_: &mut Self::Write) -> io::Result<()> {
        Ok(())
    }
    async fn shutdown(write: &mut Self::Write) -> io::Result<()> {
        match SockRef::from(write.get_ref()).shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }
}

/// Starts a session whose reads the host's loop drives: the writer and a guard task on the runtime,
/// the reader kept for [`Session::take_host_reader`]. A transport other than plain TCP is read by
/// the engine as usual (servers refuse `host_read` with TLS before any session starts).
pub(super) fn spawn<T: Transport>(
    s: Session,
    transport: T,
    leftover: BytesMut,
    tx: Option<mpsc::Sender<Frame>>,
    ext: Option<DeflateParams>,
) {
    let host = match engine::downcast::<HostTcp, T>(transport) {
        // Registered for writability from the start (a connection the host accepted).
        Ok(host) => host,
        Err(transport) => {
            let tcp = match engine::downcast::<tokio::net::TcpStream, T>(transport) {
                Ok(tcp) => tcp,
                Err(transport) => {
                    tracing::warn!(parent: &s.shared.span, "host_read needs a plain TCP socket: the engine reads this one");
                    return engine::spawn(s, transport, leftover, tx, ext);
                }
            };
            let Some(host) = register(&s, tcp) else { return };
            host
        }
    };
    let sock = host.0.clone();
    let sock_for_guard = sock.clone();
    let (_, write, direct) = host.split();
    let reader = HostReader::new(&s, ReadSock::Host(sock), direct, leftover, tx, ext);
    let link = reader.link.clone();
    s.shared.set_host_reader(Some(Box::new(reader)));
    // The writer and the guard in one task: a session the host's thread starts (and often ends) wakes
    // the runtime once at its start and once at its end, not twice each.
    let (writer, guard) = (engine::writer::<HostTcp>(s.clone(), write), guard(s.clone(), link, sock_for_guard));
    crate::runtime::spawn(async move {
        tokio::join!(writer, guard);
    });
    super::pinger::restart(&s);
    s.with_handler(|h| h.on_open(&s));
}

/// Moves a tokio socket to a [`HostTcp`]: it leaves tokio's reactor (read interest included) and
/// comes back for writability only. On failure the session ends (1006) and `None` is returned.
fn register(s: &Session, tcp: tokio::net::TcpStream) -> Option<HostTcp> {
    match tcp.into_std().and_then(HostTcp::new) {
        Ok(host) => Some(host),
        Err(e) => {
            tracing::warn!(parent: &s.shared.span, error = %e, "cannot register the socket for host reads");
            s.set_end(End::Failed(Error::Closed(Some(CloseReason::abnormal()))));
            s.shared.outbox.lock().unwrap().conn.abort();
            engine::finish(s);
            None
        }
    }
}

/// The reader's duties that wait: once the reader stops parsing (or the session is terminated, or
/// its closing handshake times out), waits for our Close to be written and ends the session.
async fn guard(s: Session, link: Arc<Link>, sock: Arc<AsyncFd<std::net::TcpStream>>) {
    let sh = &*s.shared;
    let stopped =
        std::future::poll_fn(|_| if link.stopped.load(Ordering::Acquire) { Poll::Ready(()) } else { Poll::Pending });
    let outcome: Result<(), Interrupt> = async {
        engine::guarded(sh, stopped).await?;
        engine::wait_close_written(&s).await
    }
    .await;
    if outcome.is_err() {
        let cause = sh.outbox.lock().unwrap().conn.cause().cloned().unwrap_or_else(CloseReason::abnormal);
        s.set_end(End::Failed(Error::Closed(Some(cause))));
    }
    link.tx.lock().unwrap().take();
    engine::finish(&s);
    // A reader the host never took would keep the session alive.
    sh.take_host_reader();
    // The host's loop sees the socket readable (end of stream) and drops its reader.
    let _ = SockRef::from(sock.get_ref()).shutdown(std::net::Shutdown::Both);
    drop(sock);
    link.resume();
}

/// What one event did to the reader.
enum Step {
    Go,
    /// The event is held: stop watching until the resume hook is called.
    Hold,
    /// Nothing more is parsed.
    Stopped,
}

impl HostReader {
    /// The reader of a starting session over `sock`: sets up its direct writes and compression.
    pub(super) fn new(
        s: &Session,
        sock: ReadSock,
        direct: Option<Arc<dyn DirectWrite>>,
        leftover: BytesMut,
        tx: Option<mpsc::Sender<Frame>>,
        ext: Option<DeflateParams>,
    ) -> Self {
        let decoder = engine::prepare(s, direct, ext);
        let link = Arc::new(Link { tx: Mutex::new(tx), stopped: AtomicBool::new(false), resume: Mutex::new(None) });
        let buf = if leftover.is_empty() { BytesMut::new() } else { leftover };
        HostReader { session: s.clone(), sock, buf, decoder, link, held: None, done: false }
    }

    /// Whether the reader stopped parsing the peer's frames (its Close came, the connection failed
    /// or ended).
    pub(super) fn is_done(&self) -> bool {
        self.done
    }

    /// Lets go of an empty read buffer: an idle session holds none while it waits.
    pub(super) fn release_buffer(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 0 {
            self.buf = BytesMut::new();
        }
    }

    /// Drops the pull side's queue, so that `recv` sees the end.
    pub(super) fn close_queue(&self) {
        self.link.tx.lock().unwrap().take();
    }

    /// The socket's descriptor, for the host's readiness watch (valid while the reader lives).
    pub fn fd(&self) -> RawFd {
        self.sock.fd()
    }

    /// The session this reader reads for.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Sets what is called (from any thread) when a reader that returned [`HostRead::Stop`] may read
    /// again, and when the session ended while it was stopped.
    pub fn set_resume_hook(&self, hook: Arc<dyn Fn() + Send + Sync>) {
        *self.link.resume.lock().unwrap() = Some(Resume::Hook(hook));
    }

    /// As [`HostReader::set_resume_hook`], with a waker (the engine's driver).
    pub(super) fn set_resume_waker(&self, waker: Waker) {
        *self.link.resume.lock().unwrap() = Some(Resume::Waker(waker));
    }

    /// The socket is readable (or the host wants what is already buffered): reads what it holds
    /// without blocking, decodes it, answers Pings, echoes a Close, and delivers the messages —
    /// to the event handler's `on_message` on this thread, or to the incoming queue for `recv`.
    pub fn read_ready(&mut self) -> HostRead {
        self.read_some().0
    }

    /// As [`HostReader::read_ready`]; also says whether the socket was drained (a read would
    /// block, or the last read did not fill the buffer), so the caller may clear its readiness.
    pub(super) fn read_some(&mut self) -> (HostRead, bool) {
        if self.done {
            return (HostRead::Done, false);
        }
        let s = self.session.clone();
        if s.shared.life.is_terminated() || s.state() == State::Closed {
            return (self.stop_for_good(), false);
        }
        let tx = self.link.tx.lock().unwrap().clone();
        if let Some(event) = self.held.take().map(|held| *held) {
            // A held message was counted when it was first dispatched.
            match self.dispatch(event, tx.as_ref(), false) {
                Step::Go => {}
                Step::Hold => return (HostRead::Stop, false),
                Step::Stopped => return (self.stop_receiving(), false),
            }
        }
        let mut reads = 0;
        let mut drained = false;
        loop {
            loop {
                self.decoder.set_max_size(s.max_frame_size());
                match self.decoder.decode(&mut self.buf) {
                    Ok(Some(event)) => match self.dispatch(event, tx.as_ref(), true) {
                        Step::Go => {}
                        Step::Hold => return (HostRead::Stop, false),
                        Step::Stopped => return (self.stop_receiving(), false),
                    },
                    Ok(None) => break,
                    Err(v) => {
                        let error = Error::Protocol { kind: v.kind, code: v.code(), message: v.reason.into() };
                        s.set_end(End::Failed(error));
                        s.fail(v);
                        return (self.stop_receiving(), false);
                    }
                }
            }
            // As the engine's reader: the read this call was woken for happens, paused or not (the
            // wait for it was under way); no more after it.
            if reads > 0 && s.shared.incoming.paused_now() {
                self.resume_when_unpaused();
                return (HostRead::Stop, drained);
            }
            if reads == MAX_READS {
                return (HostRead::Watch, drained);
            }
            super::read_room::make_room(&mut self.buf, &self.decoder);
            let room = self.buf.capacity() - self.buf.len();
            match self.sock.recv(&mut self.buf) {
                Ok(0) => return (self.eof(), false),
                Ok(n) => {
                    reads += 1;
                    if n < room {
                        // Drained: decode what came and wait for the next readiness (no read that
                        // would only say "would block").
                        reads = MAX_READS;
                        drained = true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.buf.is_empty() {
                        // An idle session holds no read buffer while it waits.
                        self.buf = BytesMut::new();
                    }
                    return (HostRead::Watch, true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return (self.eof(), false),
            }
        }
    }

    /// Acts on one event; a message is counted (once: `count` is false when a held one goes on)
    /// before anyone can receive it, as the engine's reader does.
    fn dispatch(&mut self, event: Event, tx: Option<&mpsc::Sender<Frame>>, count: bool) -> Step {
        let s = &self.session;
        let sh = &*s.shared;
        match event {
            Event::Message(frame) => {
                if count {
                    // Only this reader updates the incoming counters.
                    super::bump(&sh.stats.messages_in, frame.fin.into());
                    super::bump(&sh.stats.bytes_in, frame.data.len() as u64);
                    tracing::trace!(parent: &sh.span, len = frame.data.len(), kind = ?frame.kind, "message received");
                }
                match tx {
                    Some(tx) => match tx.try_send(frame) {
                        Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                        Err(mpsc::error::TrySendError::Full(frame)) => {
                            self.held = Some(Box::new(Event::Message(frame)));
                            self.resume_when_room(tx.clone());
                            return Step::Hold;
                        }
                    },
                    None => {
                        // As the engine's reader: publishes made in the callback batch while more of
                        // the peer's input is already read (topics/fanout.rs `Flusher::write_now`).
                        let more_input = !self.buf.is_empty();
                        super::shared_send::in_reader_callback(more_input, || {
                            s.with_handler(|h| h.on_message(s, frame))
                        })
                    }
                }
            }
            Event::Ping(payload) => {
                if sh.settings.auto_pong() && !sh.life.is_terminated() {
                    let mut ob = sh.outbox.lock().unwrap();
                    match ob.push_reply(&payload, sh.written.seq()) {
                        Ok(()) => engine::kick(s, &mut ob),
                        Err(_) => {
                            // Too many Pongs wait for a peer that reads nothing: stop reading until
                            // they are written (as the engine's reader does).
                            drop(ob);
                            self.held = Some(Box::new(Event::Ping(payload)));
                            self.resume_when_written();
                            return Step::Hold;
                        }
                    }
                }
                s.with_handler(|h| h.on_ping(s, &payload));
            }
            Event::Pong(payload) => engine::on_pong(s, &payload),
            Event::Close(close) => {
                engine::on_close(s, close);
                return Step::Stopped;
            }
        }
        Step::Go
    }

    /// The peer's Close came or the connection failed: the guard task ends the session once our
    /// Close is written.
    fn stop_receiving(&mut self) -> HostRead {
        self.link.stopped.store(true, Ordering::Release);
        self.finish_if_written();
        self.session.shared.life.wake();
        self.stop_for_good()
    }

    /// When our Close is already written (the direct write took it), the session ends here, on the
    /// host's thread, instead of in the guard task: its close is delivered in this call and the peer
    /// sees our end at once. The guard then finds it ended.
    fn finish_if_written(&self) {
        // Only for the host's loop: the engine's wake-ups (woken.rs) end their session themselves.
        let ReadSock::Host(sock) = &self.sock else { return };
        let s = &self.session;
        let target = s.shared.outbox.lock().unwrap().conn.close_seq();
        if target.is_none_or(|seq| s.shared.written.seq() < seq) {
            return;
        }
        self.link.tx.lock().unwrap().take();
        engine::finish(s);
        let _ = SockRef::from(sock.get_ref()).shutdown(std::net::Shutdown::Both);
    }

    /// End of stream (or a read error) without a closing handshake.
    fn eof(&mut self) -> HostRead {
        engine::on_eof(&self.session);
        self.link.tx.lock().unwrap().take();
        engine::finish(&self.session);
        self.stop_receiving()
    }

    fn stop_for_good(&mut self) -> HostRead {
        // The host drops a reader that said `Done`: nothing is left to resume.
        self.link.resume.lock().unwrap().take();
        self.done = true;
        self.held = None;
        self.buf = BytesMut::new();
        HostRead::Done
    }

    /// Calls the resume hook once `recv` made room in the incoming queue (or the session ended).
    fn resume_when_room(&self, tx: mpsc::Sender<Frame>) {
        let (link, s) = (self.link.clone(), self.session.clone());
        crate::runtime::spawn(async move {
            unless_ended(&s, async { drop(tx.reserve().await) }).await;
            link.resume();
        });
    }

    /// Calls the resume hook once the frames queued so far (the Pongs up to `seq` among them) are
    /// written, or the session ended.
    fn resume_when_written(&self) {
        let (link, s) = (self.link.clone(), self.session.clone());
        crate::runtime::spawn(async move {
            let _ = s.flush_checked().await;
            link.resume();
        });
    }

    /// Calls the resume hook once the session is resumed (or ended).
    fn resume_when_unpaused(&self) {
        let (link, s) = (self.link.clone(), self.session.clone());
        crate::runtime::spawn(async move {
            // The reader task's waker slot is free in this mode: this is its one waiter.
            unless_ended(&s, s.shared.incoming.resumed()).await;
            link.resume();
        });
    }
}

/// Runs `fut` until it completes or the session ends. (Not `engine::guarded`: its waker slot belongs
/// to the session's guard task.)
async fn unless_ended(s: &Session, fut: impl std::future::Future<Output = ()>) {
    tokio::select! {
        () = fut => {}
        () = s.shared.life.ended() => {}
    }
}

impl Session {
    /// The reader of a session started with `SessionConfig::host_read`, for the host's loop to
    /// drive; `None` in the default mode, before `start`, and once taken.
    pub fn take_host_reader(&self) -> Option<HostReader> {
        self.shared.take_host_reader().map(|r| *r)
    }
}
