//! SPEC 4.2 (`trySend` and `drain`): `try_send` never waits and reports Sent, Buffered (over the
//! high-water mark) or Dropped (over the hard limit); `drain` fires below the low-water mark.
mod common;

use common::*;
use tokio::sync::mpsc;
use wssession_core::{Error, EventHandler, Frame, Handler, Session, TrySend};

const HIGH: usize = 64 * 1024;
const LOW: usize = 16 * 1024;
const HARD: usize = 2 * HIGH;
const FRAME: usize = 8 * 1024;

struct Drains {
    opened: mpsc::UnboundedSender<Session>,
    drained: mpsc::UnboundedSender<usize>,
}

impl EventHandler for Drains {
    fn on_open(&self, session: &Session) {
        let _ = self.opened.send(session.clone());
    }
    fn on_message(&self, _: &Session, _: Frame) {}
    fn on_drain(&self, session: &Session) {
        let _ = self.drained.send(session.buffered_amount());
    }
}

#[tokio::test]
async fn try_send_reports_sent_then_buffered_then_dropped_and_drain_fires_when_the_client_reads() {
    let (opened, mut sessions) = mpsc::unbounded_channel();
    let (drained, mut drains) = mpsc::unbounded_channel();
    let config = config_with(|s| {
        s.write_high_water = HIGH;
        s.write_low_water = LOW;
        s.write_hard_limit = HARD;
    });
    let server = start(config, Handler::events(Drains { opened, drained })).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;

    let mut results = vec![];
    let mut queued = 0usize;
    loop {
        let r = session.try_send(Frame::binary(vec![queued as u8; FRAME])).unwrap();
        results.push(r);
        match r {
            TrySend::Dropped => break,
            _ => queued += 1,
        }
        assert!(results.len() < 200_000, "the queue never reached its hard limit");
        if results.len() % 64 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let first_not_sent = results.iter().position(|r| *r != TrySend::Sent).unwrap();
    assert_eq!(results[first_not_sent], TrySend::Buffered, "over the high-water mark comes before dropping");
    let before = session.buffered_amount();
    assert!(before > HIGH && before <= HARD, "buffered {before}");
    assert_eq!(session.try_send(Frame::binary(vec![0u8; FRAME])).unwrap(), TrySend::Dropped);
    assert!(session.buffered_amount() <= before, "a dropped frame is not queued");
    assert!(drains.try_recv().is_err(), "no drain while the client is not reading");

    // The client reads: the queue empties and drain fires below the low-water mark.
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while n < queued {
            let f = raw.read_wire_frame().await.expect("queued frames arrive");
            assert_eq!(f.payload[0], n as u8, "frames arrive in order, dropped ones missing");
            n += 1;
        }
        raw
    });
    let at_drain = within(drains.recv()).await.unwrap();
    assert!(at_drain <= LOW, "drain fired with {at_drain} bytes buffered");
    let _raw = within(reader).await.unwrap();
    assert_eq!(session.try_send(Frame::text("after drain")).unwrap(), TrySend::Sent);
}

#[tokio::test]
async fn try_send_on_a_closed_session_fails_with_closed() {
    let (opened, mut sessions) = mpsc::unbounded_channel();
    let (drained, _drains) = mpsc::unbounded_channel();
    let server = start(Default::default(), Handler::events(Drains { opened, drained })).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    session.close(1000, "").unwrap();
    assert!(matches!(session.try_send(Frame::text("late")), Err(Error::Closed(_))));
    raw.send_close(1000, "").await;
    within(session.close_reason()).await;
    assert!(matches!(session.try_send(Frame::text("later")), Err(Error::Closed(_))));
}
