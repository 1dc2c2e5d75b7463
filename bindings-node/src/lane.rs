//! Sends a session accepted while the core's queue was over its hard limit: they wait here in call
//! order and one task hands them to the core one at a time, so a later send never overtakes them and a
//! `close` requested after them is sent after them (as `ws` keeps `send(); close()` in order). Their
//! bytes count in `bufferedAmount` until the core has them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use wssession_core::protocol::close;
use wssession_core::{Frame, Result, Session};

/// A data frame and its compression override.
pub(crate) type OutFrame = (Frame, Option<bool>);

/// How to close: with a code and reason, or with an empty Close body.
pub(crate) type CloseRequest = Option<(u16, String)>;

enum Item {
    Frame { frame: Frame, compress: Option<bool>, done: Option<oneshot::Sender<Result<()>>> },
    Close(CloseRequest),
}

/// The items of a lane with sends waiting (boxed: the `VecDeque` inline is four words an idle
/// session does not need).
#[derive(Default)]
struct Waiting {
    items: VecDeque<Item>,
}

/// What a lane lives in (a session's adapter state, one allocation for both): its drain task keeps
/// the owner alive while it hands the lane's items to the core.
pub(crate) trait LaneOwner: Send + Sync + 'static {
    /// The owner's lane.
    fn lane(&self) -> &Lane;
}

/// The waiting sends of one session.
#[derive(Default)]
pub(crate) struct Lane {
    /// The waiting items, present while a task hands them to the core (made for the first and freed
    /// after the last: an idle session keeps a pointer, not the queue).
    queue: Mutex<Option<Box<Waiting>>>,
    /// Payload bytes of the waiting frames.
    bytes: AtomicUsize,
    /// Whether `queue` is present, readable without the lock (every send asks).
    busy: AtomicBool,
}

impl Lane {
    /// Whether sends are waiting (a new send must then wait behind them).
    pub(crate) fn busy(&self) -> bool {
        // The queue is made and dropped under the lock; this mirror changes with it.
        self.busy.load(Ordering::Acquire)
    }

    /// Payload bytes waiting for room in the core's queue.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }

    /// Queues `frames` behind the waiting ones of `owner`'s lane; the receiver gets the last one's
    /// outcome once the core has it.
    pub(crate) fn send<O: LaneOwner>(
        owner: &Arc<O>,
        s: &Session,
        frames: Vec<OutFrame>,
    ) -> oneshot::Receiver<Result<()>> {
        let (tx, rx) = oneshot::channel();
        let n = frames.len();
        owner.lane().bytes.fetch_add(frames.iter().map(|(f, _)| f.data.len()).sum(), Ordering::AcqRel);
        let mut tx = Some(tx);
        let items = frames.into_iter().enumerate().map(|(i, (frame, compress))| Item::Frame {
            frame,
            compress,
            done: if i + 1 == n { tx.take() } else { None },
        });
        Lane::enqueue(owner, s, items);
        rx
    }

    /// Closes now, or after the waiting sends when there are any. Invalid codes and reasons are refused
    /// at once either way.
    pub(crate) fn close<O: LaneOwner>(owner: &Arc<O>, s: &Session, how: CloseRequest) -> Result<()> {
        if !owner.lane().busy() {
            return close_now(s, how);
        }
        if let Some((code, reason)) = &how {
            close::validate(*code, reason)?;
        }
        Lane::enqueue(owner, s, std::iter::once(Item::Close(how)));
        Ok(())
    }

    fn enqueue<O: LaneOwner>(owner: &Arc<O>, s: &Session, items: impl Iterator<Item = Item>) {
        let lane = owner.lane();
        let mut guard = lane.queue.lock().unwrap();
        let idle = guard.is_none();
        guard.get_or_insert_with(Box::default).items.extend(items);
        if idle {
            lane.busy.store(true, Ordering::Release);
            wssession_core::runtime::spawn(Lane::drain(Arc::clone(owner), s.clone()));
        }
    }

    /// Hands the queued items of `owner`'s lane to the core in order until none is left.
    async fn drain<O: LaneOwner>(owner: Arc<O>, s: Session) {
        let lane = owner.lane();
        loop {
            let item = {
                let mut guard = lane.queue.lock().unwrap();
                match guard.as_mut().and_then(|q| q.items.pop_front()) {
                    Some(item) => item,
                    None => {
                        *guard = None;
                        lane.busy.store(false, Ordering::Release);
                        return;
                    }
                }
            };
            match item {
                Item::Frame { frame, compress, done } => {
                    let len = frame.data.len();
                    let sent = s.send_with(frame, compress).await;
                    lane.bytes.fetch_sub(len, Ordering::AcqRel);
                    if let Some(tx) = done {
                        let _ = tx.send(sent);
                    }
                }
                Item::Close(how) => {
                    let _ = close_now(&s, how);
                }
            }
        }
    }
}

fn close_now(s: &Session, how: CloseRequest) -> Result<()> {
    match how {
        Some((code, reason)) => s.close(code, &reason),
        None => {
            s.close_without_status();
            Ok(())
        }
    }
}
