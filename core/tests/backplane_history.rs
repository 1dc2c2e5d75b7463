//! SPEC 14.3 with a Redis Streams history: every publish gets a position (offset, epoch) and every
//! node delivers in position order; a session resuming from a position gets exactly what followed
//! it, in order, before the live messages, or a clear refusal (history trimmed, epoch changed); a
//! broker restart mid-stream loses nothing a publish was confirmed for.
#[path = "common/brokers.rs"]
mod brokers;
mod common;
#[path = "common/nodes.rs"]
mod nodes;

use brokers::{Broker, Kind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use nodes::*;
use tokio_tungstenite::tungstenite::Message;
use wssession_core::{Error, Position, RecoveryFailure, ServerConfig};

/// The next message with its position prefix (positions=1): (position, payload).
async fn positioned(client: &mut Client) -> (Position, String) {
    let Some(Message::Text(t)) = next(client).await else { panic!("expected a text message") };
    let (p, payload) = Position::split_prefixed(t.as_bytes()).expect("a position prefix");
    (p, String::from_utf8(payload.to_vec()).unwrap())
}

fn channels(broker: &Broker) -> usize {
    let c: Vec<String> = redis::cmd("PUBSUB").arg("CHANNELS").query(&mut broker.redis()).unwrap();
    c.len()
}

#[tokio::test]
async fn every_publish_gets_the_next_position_and_every_node_delivers_in_that_order() {
    let broker = Broker::start(Kind::Redis);
    let url = broker.url("history=100&positions=1");
    let (a, mut a_sessions) = node(&url).await;
    let (b, mut b_sessions) = node(&url).await;
    let (mut a1, sa1) = pair(&a, &mut a_sessions).await;
    let (mut b1, sb1) = pair(&b, &mut b_sessions).await;
    sa1.subscribe("t").unwrap();
    sb1.subscribe("t").unwrap();
    eventually(|| channels(&broker) == 1 && a.stats().backplane.connected && b.stats().backplane.connected).await;
    let mut sent = vec![];
    for i in 1..=3 {
        let server = if i % 2 == 0 { &b } else { &a };
        sent.push(server.publish_positioned("t", format!("m{i}").as_bytes(), true, None).await.unwrap());
    }
    assert_eq!(sent.iter().map(|p| p.offset).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(sent.iter().all(|p| p.epoch == sent[0].epoch));
    // A plain publish is placed too; subscribers on the publishing node get it from the broker.
    assert_eq!(a.publish("t", b"m4", true, None).unwrap().delivered, 0);
    for client in [&mut a1, &mut b1] {
        for i in 1..=4u64 {
            let (p, payload) = positioned(client).await;
            assert_eq!((p.offset, p.epoch.as_str(), payload), (i, sent[0].epoch.as_str(), format!("m{i}")));
        }
    }
}

/// A client that read up to m2 reconnects while publishes go on; its new session resumes from m2's
/// position and must see m3, m4, ... each exactly once and in order, history first, then live.
async fn resume_while_publishing(other_local_subscriber: bool) {
    let broker = Broker::start(Kind::Redis);
    let url = broker.url("history=1000&positions=1");
    let (a, _a_sessions) = node(&url).await;
    let (b, mut b_sessions) = node(&url).await;
    let (mut c1, s1) = pair(&b, &mut b_sessions).await;
    let (_watcher, watcher) = pair(&b, &mut b_sessions).await;
    s1.subscribe("feed").unwrap();
    if other_local_subscriber {
        watcher.subscribe("feed").unwrap();
    }
    eventually(|| channels(&broker) == 1 && a.stats().backplane.connected).await;
    a.publish_positioned("feed", b"m1", true, None).await.unwrap();
    a.publish_positioned("feed", b"m2", true, None).await.unwrap();
    positioned(&mut c1).await;
    let (last, _) = positioned(&mut c1).await;
    drop(c1);
    eventually(|| s1.close_reason_now().is_some()).await;
    for i in 3..=20 {
        a.publish_positioned("feed", format!("m{i}").as_bytes(), true, None).await.unwrap();
    }
    let publisher = a.clone();
    let live = tokio::spawn(async move {
        for i in 21..=120 {
            publisher.publish_positioned("feed", format!("m{i}").as_bytes(), true, None).await.unwrap();
        }
    });
    let (mut c2, s2) = pair(&b, &mut b_sessions).await;
    let resumed = s2.subscribe_from("feed", last.clone()).await.unwrap().expect("a position");
    // The last message this node delivered when the session joined: later ones reach it live.
    assert!(resumed.offset >= 2 && resumed.epoch == last.epoch, "{resumed:?}");
    assert!(s2.is_subscribed("feed"));
    let again = s2.subscribe_from("feed", last.clone()).await.unwrap_err();
    assert_eq!(again.kind(), "INVALID_ARGUMENT", "resuming a topic it already follows would repeat messages");
    for i in 3..=120u64 {
        let (p, payload) = positioned(&mut c2).await;
        assert_eq!((p.offset, payload), (i, format!("m{i}")), "nothing missing, nothing twice, in order");
    }
    live.await.unwrap();
    if !other_local_subscriber {
        assert!(b.stats().backplane.recovered >= 18, "m3..m20 came from the history");
    }
}

#[tokio::test]
async fn a_resuming_session_gets_what_it_missed_in_order_then_live_messages() {
    resume_while_publishing(false).await;
}

#[tokio::test]
async fn a_resuming_session_joins_a_topic_other_sessions_follow_live_without_gap_or_repeat() {
    resume_while_publishing(true).await;
}

#[tokio::test]
async fn recovery_is_refused_once_the_history_no_longer_reaches_the_position() {
    let broker = Broker::start(Kind::Redis);
    // MAXLEN ~ trims whole stream nodes (100 entries each by default): 10 keeps at most ~110.
    let (a, mut a_sessions) = node(&broker.url("history=10")).await;
    let (_c, s) = pair(&a, &mut a_sessions).await;
    eventually(|| a.stats().backplane.connected).await;
    let first = a.publish_positioned("t", b"0", true, None).await.unwrap();
    let mut last = first.clone();
    for i in 1..300 {
        last = a.publish_positioned("t", i.to_string().as_bytes(), true, None).await.unwrap();
    }
    let err = s.subscribe_from("t", first).await.unwrap_err();
    assert!(matches!(err, Error::Recovery(RecoveryFailure::Trimmed)), "{err}");
    assert_eq!(err.kind(), "RECOVERY");
    assert!(!s.is_subscribed("t"), "a refused recovery does not subscribe");
    // A recent position is still in the history.
    let recent = Position { offset: last.offset - 5, epoch: last.epoch.clone() };
    assert_eq!(s.subscribe_from("t", recent).await.unwrap(), Some(last));
}

#[tokio::test]
async fn recovery_is_refused_once_the_history_aged_out() {
    let broker = Broker::start(Kind::Redis);
    let (a, mut a_sessions) = node(&broker.url("history=100&history_ttl=1")).await;
    let (_c, s) = pair(&a, &mut a_sessions).await;
    eventually(|| a.stats().backplane.connected).await;
    let first = a.publish_positioned("t", b"old", true, None).await.unwrap();
    a.publish_positioned("t", b"older", true, None).await.unwrap();
    let mut redis = broker.redis();
    eventually(|| !redis::cmd("EXISTS").arg("wss:h:t").query::<bool>(&mut redis).unwrap()).await;
    let err = s.subscribe_from("t", first).await.unwrap_err();
    assert!(matches!(err, Error::Recovery(RecoveryFailure::Trimmed)), "{err}");
}

#[tokio::test]
async fn recovery_is_refused_after_the_epoch_changed() {
    let mut broker = Broker::start(Kind::Redis);
    let (a, mut a_sessions) = node(&broker.url("history=100")).await;
    let (_c, s) = pair(&a, &mut a_sessions).await;
    eventually(|| a.stats().backplane.connected).await;
    let old = a.publish_positioned("t", b"x", true, None).await.unwrap();
    broker.restart(); // no persistence: the history and its epoch are gone
    eventually(|| a.stats().backplane.connected).await;
    let err = s.subscribe_from("t", old.clone()).await.unwrap_err();
    assert!(matches!(err, Error::Recovery(RecoveryFailure::EpochChanged)), "{err}");
    let new = loop {
        match a.publish_positioned("t", b"y", true, None).await {
            Ok(p) => break p,
            Err(Error::Recovery(RecoveryFailure::Unavailable)) => continue,
            Err(e) => panic!("{e}"),
        }
    };
    assert_ne!(new.epoch, old.epoch);
    assert_eq!(new.offset, 1);
    let err = s.subscribe_from("t", old).await.unwrap_err();
    assert!(matches!(err, Error::Recovery(RecoveryFailure::EpochChanged)), "{err}");
}

#[tokio::test]
async fn without_a_history_recovery_is_refused_as_no_history() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let (_c, s) = pair(&server, &mut sessions).await;
    let err = s.subscribe_from("t", Position { offset: 1, epoch: "e".into() }).await.unwrap_err();
    assert!(matches!(err, Error::Recovery(RecoveryFailure::NoHistory)), "{err}");
    let err = server.publish_positioned("t", b"x", true, None).await.unwrap_err();
    assert!(matches!(err, Error::Recovery(RecoveryFailure::NoHistory)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_redis_restart_mid_stream_loses_no_confirmed_publish() {
    let broker = Broker::start(Kind::RedisPersistent);
    let url = broker.url("history=10000&positions=1");
    let (a, _a_sessions) = node(&url).await;
    let (b, mut b_sessions) = node(&url).await;
    let (mut b1, s1) = pair(&b, &mut b_sessions).await;
    s1.subscribe("feed").unwrap();
    eventually(|| channels(&broker) == 1 && a.stats().backplane.connected).await;
    let restarted = Arc::new(AtomicBool::new(false));
    let (publisher, done) = (a.clone(), restarted.clone());
    // Publishes until 100 went through after the restart; keeps what the broker confirmed.
    let confirmed = tokio::spawn(async move {
        let (mut confirmed, mut after) = (vec![], 0);
        for i in 0.. {
            match publisher.publish_positioned("feed", format!("m{i}").as_bytes(), true, None).await {
                Ok(p) => {
                    confirmed.push((p.offset, format!("m{i}")));
                    after += usize::from(done.load(Ordering::SeqCst));
                }
                Err(Error::Recovery(RecoveryFailure::Unavailable)) => tokio::task::yield_now().await,
                Err(e) => panic!("{e}"),
            }
            if after == 100 {
                break;
            }
        }
        confirmed
    });
    eventually(|| a.stats().backplane.published >= 50).await;
    let broker = tokio::task::spawn_blocking(move || {
        let mut broker = broker;
        broker.restart();
        broker
    })
    .await
    .unwrap();
    restarted.store(true, Ordering::SeqCst);
    let confirmed = within(confirmed).await.unwrap();
    // b1 sees positions 1, 2, 3, ... with none missing or repeated, and among them every publish
    // the broker confirmed (one whose reply the restart cut off may be there too: it was placed).
    let mut seen = std::collections::HashMap::new();
    for expected in 1..=confirmed.last().unwrap().0 {
        let (p, got) = positioned(&mut b1).await;
        assert_eq!(p.offset, expected, "in order, nothing missing or twice");
        seen.insert(p.offset, got);
    }
    for (offset, payload) in &confirmed {
        assert_eq!(seen.get(offset), Some(payload), "every confirmed publish reached b");
    }
    assert!(a.stats().backplane.failed > 0 || a.stats().backplane.reconnects > 0);
    drop(broker);
}
