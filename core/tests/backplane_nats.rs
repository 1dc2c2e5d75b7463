//! SPEC 14.3 on NATS: two servers on one NATS server deliver each other's publishes exactly once,
//! each subscribes only to subjects of topics with local subscribers, and a NATS restart never
//! stops local delivery: the client reconnects, resubscribes, and delivery across nodes resumes
//! (what a node published meanwhile is delivered late or counted lost, never both).
#[path = "common/brokers.rs"]
mod brokers;
mod common;
#[path = "common/nodes.rs"]
mod nodes;

use brokers::{Broker, Kind};
use common::*;
use nodes::*;
use tokio_tungstenite::tungstenite::Message;

/// The subject of topic "room" with the default prefix (the topic's bytes in hex).
const ROOM: &str = "wss.726f6f6d";

#[tokio::test]
async fn two_servers_on_one_nats_deliver_each_others_publishes_exactly_once() {
    let broker = Broker::start(Kind::Nats);
    let (a, mut a_sessions) = node(&broker.url("")).await;
    let (b, mut b_sessions) = node(&broker.url("")).await;
    let (mut a1, sa1) = pair(&a, &mut a_sessions).await;
    let (mut b1, sb1) = pair(&b, &mut b_sessions).await;
    assert!(broker.nats_subjects().is_empty());
    sa1.subscribe("room").unwrap();
    sb1.subscribe("room").unwrap();
    eventually(|| broker.nats_subjects() == [ROOM]).await;
    eventually(|| a.stats().backplane.topics == 1 && b.stats().backplane.topics == 1).await;
    // Both subscriptions are in place on the server once each node's flushes went through.
    eventually(|| a.stats().backplane.connected && b.stats().backplane.connected).await;
    wait_for_subscriptions(&broker, 2).await;

    a.publish("room", b"from a", true, None).unwrap();
    expect_text(&mut a1, "from a").await;
    expect_text(&mut b1, "from a").await;
    sb1.publish("room", b"from b1", true, None).unwrap();
    expect_text(&mut a1, "from b1").await;
    got_nothing_else(&mut a1, &sa1).await;
    got_nothing_else(&mut b1, &sb1).await;

    sa1.unsubscribe("room");
    wait_for_subscriptions(&broker, 1).await;
    sb1.unsubscribe("room");
    eventually(|| broker.nats_subjects().is_empty()).await;
}

/// Waits until NATS holds `n` subscriptions on the "room" subject.
async fn wait_for_subscriptions(broker: &Broker, n: usize) {
    eventually(|| broker.nats_subscription_count(ROOM) == n).await;
}

#[tokio::test]
async fn a_nats_restart_keeps_local_delivery_going_then_resubscribes() {
    let mut broker = Broker::start(Kind::Nats);
    let (a, mut a_sessions) = node(&broker.url("")).await;
    let (b, mut b_sessions) = node(&broker.url("")).await;
    let (mut a1, sa1) = pair(&a, &mut a_sessions).await;
    let (mut b1, sb1) = pair(&b, &mut b_sessions).await;
    sa1.subscribe("room").unwrap();
    sb1.subscribe("room").unwrap();
    wait_for_subscriptions(&broker, 2).await;
    a.publish("room", b"before", true, None).unwrap();
    expect_text(&mut a1, "before").await;
    expect_text(&mut b1, "before").await;

    broker.stop();
    eventually(|| !a.stats().backplane.connected && !b.stats().backplane.connected).await;
    assert_eq!(a.publish("room", b"while down", true, None).unwrap().delivered, 1);
    expect_text(&mut a1, "while down").await;

    broker.restart();
    wait_for_subscriptions(&broker, 2).await;
    eventually(|| a.stats().backplane.connected && b.stats().backplane.connected).await;
    assert!(a.stats().backplane.reconnects >= 1 && b.stats().backplane.reconnects >= 1);
    a.publish("room", b"after", true, None).unwrap();
    expect_text(&mut a1, "after").await;
    // The NATS client kept a's publish while disconnected and sent it on reconnecting: b has it,
    // unless b listened again only after it passed, and then it counts it as lost. Never both.
    match next(&mut b1).await {
        Some(m) if m == Message::text("while down") => expect_text(&mut b1, "after").await,
        other => {
            assert_eq!(other, Some(Message::text("after")));
            assert_eq!(b.stats().backplane.lost, 1);
        }
    }
    got_nothing_else(&mut a1, &sa1).await;
    got_nothing_else(&mut b1, &sb1).await;
}
