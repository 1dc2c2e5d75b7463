//! The I/O side of a session: one reader task (decode, dispatch, close handshake) and one
//! writer task (drains the outbox), both on the internal runtime. With
//! `SessionConfig::no_idle_tasks` (the default), plain TCP sessions go to `woken.rs` (no task while
//! idle), which shares the writer's loop and the event handling here; TLS sessions, and every
//! session with `no_idle_tasks = false`, get the two tasks.

use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use super::outbox::Outbox;
use super::outbox::{CompressShape, MAX_IOV, advance, io_slices};
use super::{End, Session, Shared, Transport};
use crate::deflate::{DeflateParams, Deflater};
use crate::error::Error;
use crate::protocol::close::CloseReason;
use crate::protocol::{Decoder, Event, Frame};

/// Spawns the reader, the writer and (if configured) the pinger for a started session.
pub(super) fn spawn<T: Transport>(
    s: Session,
    transport: T,
    leftover: BytesMut,
    tx: Option<mpsc::Sender<Frame>>,
    ext: Option<DeflateParams>,
) {
    let (read, write, direct) = transport.split();
    let decoder = prepare(&s, direct, ext);
    // An empty leftover still holds the handshake's head buffer (it was split from it): let it go,
    // so an idle session keeps no buffer at all until bytes arrive.
    let leftover = if leftover.is_empty() { BytesMut::new() } else { leftover };
    crate::runtime::spawn(writer::<T>(s.clone(), write));
    crate::runtime::spawn(reader::<T>(s.clone(), read, leftover, decoder, tx));
    super::pinger::restart(&s);
}

/// With `SessionConfig::no_idle_tasks` (the default): a plain TCP session starts without tasks (woken.rs); other
/// transports (TLS) get the reader and the writer task.
pub(super) fn spawn_woken<T: Transport>(
    s: Session,
    transport: T,
    leftover: BytesMut,
    tx: Option<mpsc::Sender<Frame>>,
    ext: Option<DeflateParams>,
) {
    match downcast::<tokio::net::TcpStream, T>(transport) {
        Ok(tcp) => super::woken::spawn(s, tcp, leftover, tx, ext),
        Err(transport) => spawn(s, transport, leftover, tx, ext),
    }
}

/// `t` as a `U` when `T` is `U` (a transport's concrete stream), or `t` itself; no allocation: the
/// value is looked at in place, through an `Option` seen as `dyn Any`.
pub(super) fn downcast<U: 'static, T: 'static>(t: T) -> Result<U, T> {
    let mut slot = Some(t);
    match (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<U>>() {
        Some(u) => Ok(u.take().expect("filled above")),
        None => Err(slot.expect("not taken")),
    }
}

/// Sets up a starting session's direct writes and compression; returns the decoder its reader uses.
pub(super) fn prepare(
    s: &Session,
    direct: Option<std::sync::Arc<dyn super::DirectWrite>>,
    ext: Option<DeflateParams>,
) -> Decoder {
    s.shared.outbox.lock().unwrap().set_direct(direct);
    let decoder = s.shared.settings.decoder(ext.as_ref());
    if let Some(p) = &ext {
        let deflater = Deflater::new(p);
        let mut ob = s.shared.outbox.lock().unwrap();
        ob.compression = Some(CompressShape { threshold: deflater.threshold(), shared: deflater.shared_setting() });
        ob.conn.set_compressor(Box::new(deflater));
    }
    decoder
}

pub(super) fn close_deadline(sh: &Shared) -> Option<Instant> {
    sh.life.close_deadline(sh.settings.close_timeout())
}

/// Why the reader stopped waiting: terminated, or the closing handshake timed out.
pub(super) struct Interrupt;

/// Runs `fut` unless the session is terminated or its closing handshake times out first.
///
/// When `fut` is pending, the reader task registers its waker in `wake` and then checks the
/// conditions once more, so a `wake()` after a condition changed always re-polls it (no lock,
/// no waiter list; nothing at all when `fut` is ready at once).
pub(super) async fn guarded<F: Future>(sh: &Shared, fut: F) -> Result<F::Output, Interrupt> {
    let mut fut = std::pin::pin!(fut);
    let mut timer: Option<(Instant, Pin<Box<tokio::time::Sleep>>)> = None;
    std::future::poll_fn(|cx| {
        let mut registered = false;
        loop {
            if sh.life.is_terminated() {
                return Poll::Ready(Err(Interrupt));
            }
            let deadline = close_deadline(sh);
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Poll::Ready(Err(Interrupt));
            }
            if !registered {
                if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                    return Poll::Ready(Ok(out));
                }
                sh.life.register(cx.waker());
                registered = true;
                continue;
            }
            let Some(d) = deadline else { return Poll::Pending };
            if timer.as_ref().is_none_or(|(at, _)| *at != d) {
                timer = Some((d, Box::pin(tokio::time::sleep_until(d.into()))));
            }
            let (_, sleep) = timer.as_mut().expect("set above");
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The deadline passed: the next round interrupts.
        }
    })
    .await
}

async fn reader<T: Transport>(
    s: Session,
    mut read: T::Read,
    mut buf: BytesMut,
    mut decoder: Decoder,
    tx: Option<mpsc::Sender<Frame>>,
) {
    s.with_handler(|h| h.on_open(&s));
    let sh = &*s.shared;
    // The connection's `receiving()`, as this task last saw it change: false once the peer's Close
    // arrived or the connection failed (RFC 6455 §7.1.7: nothing more is parsed). Then only our
    // Close remains to be written, and the socket is shut.
    let mut receiving = true;
    let outcome: Result<(), Interrupt> = async {
        loop {
            // Everything already buffered first.
            while receiving {
                decoder.set_max_size(s.max_frame_size());
                match decoder.decode(&mut buf) {
                    Ok(Some(event)) => {
                        let more_input = !buf.is_empty();
                        receiving = dispatch(&s, event, tx.as_ref(), more_input).await?;
                    }
                    Ok(None) => break,
                    Err(v) => {
                        let error = Error::Protocol { kind: v.kind, code: v.code(), message: v.reason.into() };
                        s.set_end(End::Failed(error));
                        // Failing the connection: shut the socket as soon as our Close is written,
                        // without waiting for a Close we could no longer parse.
                        s.fail(v);
                        receiving = false;
                    }
                }
            }
            if !receiving {
                wait_close_written(&s).await?;
                return Ok(());
            }
            if sh.incoming.paused_now() {
                guarded(sh, sh.incoming.resumed()).await?;
                continue;
            }
            if buf.is_empty() {
                let mut readable = std::pin::pin!(T::readable(&read));
                let now = std::future::poll_fn(|cx| Poll::Ready(readable.as_mut().poll(cx))).await;
                let ready = match now {
                    Poll::Ready(r) => r,
                    Poll::Pending => {
                        // Nothing to read and nothing buffered: an idle session holds no read
                        // buffer while it waits (the next read allocates one).
                        buf = BytesMut::new();
                        guarded(sh, readable).await?
                    }
                };
                if ready.is_err() {
                    on_eof(&s);
                    return Ok(());
                }
            }
            super::read_room::make_room(&mut buf, &decoder);
            match guarded(sh, T::read_into(&mut read, &mut buf)).await? {
                Ok(0) | Err(_) => {
                    on_eof(&s);
                    return Ok(());
                }
                Ok(_) => {}
            }
        }
    }
    .await;
    if outcome.is_err() {
        // Terminated, or the closing handshake timed out: the recorded cause stands.
        let cause = s.shared.outbox.lock().unwrap().conn.cause().cloned().unwrap_or_else(CloseReason::abnormal);
        s.set_end(End::Failed(Error::Closed(Some(cause))));
    }
    drop(tx);
    finish(&s);
}

/// The peer went away without completing a closing handshake.
pub(super) fn on_eof(s: &Session) {
    let reason = {
        let mut ob = s.shared.outbox.lock().unwrap();
        ob.conn.abort();
        ob.conn.cause().cloned()
    };
    s.set_end(End::Failed(Error::Closed(reason)));
}

/// Acts on one event (`more_input`: more bytes already read after it); returns whether the
/// connection still parses the peer's frames.
async fn dispatch(
    s: &Session,
    event: Event,
    tx: Option<&mpsc::Sender<Frame>>,
    more_input: bool,
) -> Result<bool, Interrupt> {
    let sh = &*s.shared;
    match event {
        Event::Message(frame) => {
            // Only this task updates the incoming counters.
            super::bump(&sh.stats.messages_in, frame.fin.into());
            super::bump(&sh.stats.bytes_in, frame.data.len() as u64);
            tracing::trace!(parent: &sh.span, len = frame.data.len(), kind = ?frame.kind, "message received");
            match tx {
                Some(tx) => {
                    if let Ok(permit) = guarded(sh, tx.reserve()).await? {
                        permit.send(frame);
                    }
                }
                None => {
                    super::shared_send::in_reader_callback(more_input, || s.with_handler(|h| h.on_message(s, frame)))
                }
            }
        }
        Event::Ping(payload) => {
            // Pongs are bounded on their own (MAX_QUEUED_REPLIES): under a ping flood from a peer
            // that reads nothing, stop reading until the queued ones are written. Without auto_pong
            // the application answers (or not) from on_ping.
            loop {
                let wait_for = {
                    let mut ob = sh.outbox.lock().unwrap();
                    if !sh.settings.auto_pong() || sh.life.is_terminated() {
                        break;
                    }
                    match ob.push_reply(&payload, sh.written.seq()) {
                        Ok(()) => {
                            kick(s, &mut ob);
                            break;
                        }
                        Err(seq) => seq,
                    }
                };
                wait_written(s, wait_for).await?;
            }
            s.with_handler(|h| h.on_ping(s, &payload));
        }
        Event::Pong(payload) => on_pong(s, &payload),
        Event::Close(close) => {
            on_close(s, close);
            return Ok(false);
        }
    }
    Ok(true)
}

/// A Pong arrived: it acknowledges the Pings up to its own; the handler hears of it.
pub(super) fn on_pong(s: &Session, payload: &Bytes) {
    s.shared.pings.acknowledge(payload);
    s.with_handler(|h| h.on_pong(s, payload));
}

/// The peer's Close arrived: the incoming side ends cleanly, and the connection records it and echoes
/// its code (or an empty Close) unless ours is queued. Nothing more is parsed after it.
pub(super) fn on_close(s: &Session, close: Option<(u16, String)>) {
    s.set_end(End::Clean);
    s.close_queued(|ob| ob.receive_close(close));
}

pub(super) async fn wait_close_written(s: &Session) -> Result<(), Interrupt> {
    let target = s.shared.outbox.lock().unwrap().conn.close_seq();
    match target {
        Some(seq) => wait_written(s, seq).await,
        None => Ok(()),
    }
}

/// Waits until the frames up to sequence number `target` have been handed to the socket.
async fn wait_written(s: &Session, target: u64) -> Result<(), Interrupt> {
    let sh = &*s.shared;
    let waiting = sh.written.waiter();
    loop {
        let notified = waiting.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if sh.written.seq() >= target {
            return Ok(());
        }
        guarded(sh, notified).await?;
    }
}

/// Ends the session once: publishes the close reason, stops the tasks, tells the handler.
pub(super) fn finish(s: &Session) {
    let sh = &*s.shared;
    if !sh.life.end() {
        return;
    }
    // Subscriptions end before anyone can learn that the session closed.
    if let Some(registry) = s.registry() {
        registry.session_closing(s);
    }
    // The frames that crossed the wire: ours once handed to the socket, the peer's once parsed.
    let reason = {
        let mut ob = sh.outbox.lock().unwrap();
        ob.set_direct(None);
        ob.conn.finish()
    };
    sh.pings.stop();
    s.set_end(End::Failed(Error::Closed(Some(reason.clone()))));
    sh.life.publish(reason.clone());
    sh.wake_writer_if_waiting();
    sh.notify_space();
    sh.written.wake_all();
    let duration_ms = sh.created.elapsed().as_millis() as u64;
    let (code, initiator) = (reason.code, reason.initiator.as_str());
    tracing::info!(parent: &sh.span, code, initiator, reason = %reason.reason, duration_ms, "session closed");
    if let Some(registry) = s.registry() {
        registry.session_ended(s, &reason);
    }
    s.with_handler(|h| h.on_close(s, &reason));
}

/// After a direct write by the sending thread (outbox locked): publishes how far the writing got
/// when everything queued went out (`written`: [`Outbox::write_direct`]'s result), or hands the rest on.
pub(super) fn after_direct_write(s: &Session, ob: &mut Outbox, written: Option<(u64, bool)>) {
    match written {
        Some((seq, has_close)) => all_written(s, seq, has_close),
        None => kick(s, ob),
    }
}

/// Everything queued up to `seq` is with the socket: wakes the flushes waiting for it, and the
/// closing handshake when our Close was among it.
fn all_written(s: &Session, seq: u64, has_close: bool) {
    s.shared.written.publish(seq);
    if has_close {
        s.shared.life.wake();
    }
}

/// Hands queued bytes straight to the socket when the writer task is idle (saving its wake-up);
/// whatever the socket does not take now is left to the writer task. Called with the outbox locked.
pub(super) fn kick(s: &Session, ob: &mut Outbox) {
    let sh = &*s.shared;
    if !ob.writing
        && !ob.need_drain
        && !sh.life.is_terminated()
        && let Some(direct) = ob.direct.take()
        && let Some((seq, has_close)) = {
            let written = ob.write_direct(direct.as_ref());
            ob.direct = Some(direct);
            written
        }
    {
        all_written(s, seq, has_close);
        return;
    }
    if !ob.direct.as_ref().is_some_and(|direct| direct.spawn_writer()) {
        sh.writer_wake().notify_one();
    }
}

pub(super) async fn writer<T: Transport>(s: Session, mut write: T::Write) {
    write_queued::<T>(&s, &mut write, None).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), T::shutdown(&mut write)).await;
}

/// Writes what is queued until the session ends. With `on_demand` (set while this writer runs,
/// changed with the outbox locked), returns as soon as the queue is empty instead of waiting.
pub(super) async fn write_queued<T: Transport>(s: &Session, write: &mut T::Write, on_demand: Option<&AtomicBool>) {
    let sh = &*s.shared;
    loop {
        if sh.life.is_terminated() {
            break;
        }
        let batch = {
            let mut ob = sh.outbox.lock().unwrap();
            let batch = ob.take();
            ob.writing = batch.is_some();
            if batch.is_none()
                && let Some(running) = on_demand
            {
                running.store(false, Ordering::Release);
                return;
            }
            batch
        };
        let Some(batch) = batch else {
            tokio::select! {
                _ = sh.writer_wake().notified() => {}
                _ = sh.life.ended() => {}
            }
            continue;
        };
        let total: usize = batch.chunks.iter().map(Bytes::len).sum();
        let result = tokio::select! {
            r = write_all::<T>(write, batch.chunks) => r,
            _ = sh.life.ended() => break,
        };
        if result.is_err() {
            sh.outbox.lock().unwrap().conn.abort();
            s.abort();
            break;
        }
        let (drain, was_over) = {
            let mut ob = sh.outbox.lock().unwrap();
            ob.writing = false;
            let limits = sh.settings.limits();
            let was_over = ob.buffered > limits.high_water;
            ob.buffered -= total;
            let drain = ob.need_drain && ob.buffered <= limits.low_water;
            if drain {
                ob.need_drain = false;
            }
            (drain, was_over || drain)
        };
        sh.written.publish(batch.seq);
        if was_over {
            sh.notify_space();
        }
        if drain {
            // If a callback is running, it delivers the drain when it returns.
            s.drained();
        }
        if batch.has_close {
            sh.life.wake();
        }
    }
}

async fn write_all<T: Transport>(w: &mut T::Write, mut chunks: Vec<Bytes>) -> std::io::Result<()> {
    let mut first = 0;
    while first < chunks.len() {
        // On the heap: an array here would live in every session's writer task for its whole life
        // (a task's future is as large as its largest await point), ~1 KiB per idle connection.
        let mut slices = vec![IoSlice::new(&[]); (chunks.len() - first).min(MAX_IOV)];
        let count = io_slices(&chunks[first..], &mut slices);
        let n = T::write_vectored(w, &slices[..count]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        first += advance(&mut chunks[first..], n);
    }
    T::flush(w).await
}

#[cfg(test)]
mod tests {
    use super::downcast;

    #[test]
    fn downcast_gives_the_value_when_the_types_match_and_gives_it_back_when_they_do_not() {
        assert_eq!(downcast::<String, String>("tcp".to_string()), Ok("tcp".to_string()));
        assert_eq!(downcast::<u32, String>("tls".to_string()), Err("tls".to_string()));
    }
}
