//! SPEC 14.3 on Redis pub/sub: two servers on one broker deliver each other's publishes exactly
//! once, each listens on the broker only for topics with local subscribers, and a broker outage
//! never stops local delivery: the backplane reconnects, listens again, and counts what was lost.
#[path = "common/brokers.rs"]
mod brokers;
mod common;
#[path = "common/nodes.rs"]
mod nodes;

use brokers::{Broker, Kind};
use common::*;
use nodes::*;
use tokio_tungstenite::tungstenite::Message;

fn channels(broker: &Broker) -> Vec<String> {
    let mut c: Vec<String> = redis::cmd("PUBSUB").arg("CHANNELS").query(&mut broker.redis()).unwrap();
    c.sort();
    c
}

/// How many connections listen on `channel` (one per node with local subscribers).
fn listeners(broker: &Broker, channel: &str) -> u64 {
    let reply: Vec<(String, u64)> = redis::cmd("PUBSUB").arg("NUMSUB").arg(channel).query(&mut broker.redis()).unwrap();
    reply.first().map_or(0, |(_, n)| *n)
}

#[tokio::test]
async fn two_servers_on_one_redis_deliver_each_others_publishes_exactly_once() {
    let broker = Broker::start(Kind::Redis);
    let (a, mut a_sessions) = node(&broker.url("")).await;
    let (b, mut b_sessions) = node(&broker.url("")).await;
    let (mut a1, sa1) = pair(&a, &mut a_sessions).await;
    let (mut b1, sb1) = pair(&b, &mut b_sessions).await;
    let (mut b2, sb2) = pair(&b, &mut b_sessions).await;
    sa1.subscribe("room").unwrap();
    sb1.subscribe("room").unwrap();
    sb2.subscribe("room").unwrap();
    eventually(|| listeners(&broker, "wss:c:room") == 2).await;

    let published = a.publish("room", b"from a", true, None).unwrap();
    assert_eq!(published.delivered, 1, "the publishing node delivers to its own subscriber itself");
    expect_text(&mut a1, "from a").await;
    expect_text(&mut b1, "from a").await;
    expect_text(&mut b2, "from a").await;

    // A session's publish reaches every subscriber on every node but the sender.
    sb1.publish("room", &[7, 7], false, None).unwrap();
    assert_eq!(next(&mut a1).await, Some(Message::binary(vec![7, 7])));
    assert_eq!(next(&mut b2).await, Some(Message::binary(vec![7, 7])));
    got_nothing_else(&mut b1, &sb1).await;
    // Nothing twice: the publishing node skipped its own echo from the broker.
    got_nothing_else(&mut a1, &sa1).await;
    got_nothing_else(&mut b2, &sb2).await;

    // Counted once the broker's reply came back (the message may arrive before that).
    eventually(|| a.stats().backplane.published == 1 && b.stats().backplane.published == 1).await;
    let (sa, sb) = (a.stats().backplane, b.stats().backplane);
    assert_eq!((sa.kind, sa.connected, sa.published, sa.received), (Some("redis"), true, 1, 1));
    assert_eq!((sb.published, sb.received, sb.lost + sa.lost), (1, 1, 0));
    assert!(a.metrics().contains("wssession_backplane_published_total 1"));
}

#[tokio::test]
async fn a_node_listens_on_redis_only_for_topics_with_local_subscribers() {
    let broker = Broker::start(Kind::Redis);
    let (a, mut a_sessions) = node(&broker.url("prefix=app")).await;
    let (_c1, s1) = pair(&a, &mut a_sessions).await;
    let (mut c2, s2) = pair(&a, &mut a_sessions).await;
    assert!(channels(&broker).is_empty(), "no subscribers, no broker subscriptions");
    s1.subscribe("news").unwrap();
    s2.subscribe("news").unwrap();
    s2.subscribe("sport").unwrap();
    eventually(|| channels(&broker) == ["app:c:news", "app:c:sport"]).await;
    assert_eq!(listeners(&broker, "app:c:news"), 1, "one broker subscription per node, not per session");
    assert_eq!(a.stats().backplane.topics, 2);

    s1.unsubscribe("news");
    assert_eq!(channels(&broker), ["app:c:news", "app:c:sport"], "news still has a local subscriber");
    s2.unsubscribe("sport");
    eventually(|| channels(&broker) == ["app:c:news"]).await;
    // The last subscriber's session ends: its subscriptions end, and so does the node's interest.
    send(&mut c2, Message::Close(None)).await;
    eventually(|| channels(&broker).is_empty()).await;
}

#[tokio::test]
async fn a_redis_restart_keeps_local_delivery_going_then_reconnects_and_counts_the_loss() {
    let mut broker = Broker::start(Kind::Redis);
    let (a, mut a_sessions) = node(&broker.url("")).await;
    let (b, mut b_sessions) = node(&broker.url("")).await;
    let (mut a1, sa1) = pair(&a, &mut a_sessions).await;
    let (mut b1, sb1) = pair(&b, &mut b_sessions).await;
    sa1.subscribe("feed").unwrap();
    sb1.subscribe("feed").unwrap();
    eventually(|| listeners(&broker, "wss:c:feed") == 2).await;
    a.publish("feed", b"before", true, None).unwrap();
    expect_text(&mut a1, "before").await;
    expect_text(&mut b1, "before").await;

    broker.stop();
    eventually(|| !a.stats().backplane.connected && !b.stats().backplane.connected).await;
    // Local delivery never waits for the broker.
    for i in 0..5 {
        assert_eq!(a.publish("feed", format!("down {i}").as_bytes(), true, None).unwrap().delivered, 1);
        expect_text(&mut a1, &format!("down {i}")).await;
    }
    eventually(|| a.stats().backplane.failed == 5).await;

    broker.restart();
    eventually(|| listeners(&broker, "wss:c:feed") == 2 && a.stats().backplane.connected).await;
    let (sa, sb) = (a.stats().backplane, b.stats().backplane);
    assert!(sa.reconnects >= 1 && sb.reconnects >= 1, "{sa:?} {sb:?}");
    a.publish("feed", b"after", true, None).unwrap();
    expect_text(&mut a1, "after").await;
    expect_text(&mut b1, "after").await;
    // b saw a's sequence jump past the five it never received.
    assert_eq!(b.stats().backplane.lost, 5);
    got_nothing_else(&mut b1, &sb1).await;
}

#[tokio::test]
async fn an_unreachable_redis_does_not_stop_a_server_from_starting_or_delivering_locally() {
    let mut broker = Broker::start(Kind::Redis);
    let url = broker.url("");
    broker.stop();
    let (a, mut a_sessions) = node(&url).await;
    let (mut a1, sa1) = pair(&a, &mut a_sessions).await;
    sa1.subscribe("t").unwrap();
    assert_eq!(a.publish("t", b"local", true, None).unwrap().delivered, 1);
    expect_text(&mut a1, "local").await;
    assert!(!a.stats().backplane.connected);
    broker.restart();
    eventually(|| listeners(&broker, "wss:c:t") == 1 && a.stats().backplane.connected).await;
}

#[tokio::test]
async fn a_stalled_redis_fills_the_bounded_queue_and_later_publishes_are_delivered_locally_and_counted() {
    let broker = Broker::start(Kind::Redis);
    let (a, mut a_sessions) = node(&broker.url("queue=4")).await;
    let (mut a1, sa1) = pair(&a, &mut a_sessions).await;
    sa1.subscribe("t").unwrap();
    eventually(|| listeners(&broker, "wss:c:t") == 1 && a.stats().backplane.connected).await;
    // The broker stops answering writes: the publisher waits on its reply, the queue fills up.
    let _: () = redis::cmd("CLIENT").arg("PAUSE").arg(1000).arg("WRITE").query(&mut broker.redis()).unwrap();
    for i in 0..20 {
        assert_eq!(a.publish("t", format!("m{i}").as_bytes(), true, None).unwrap().delivered, 1, "never waits");
    }
    for i in 0..20 {
        expect_text(&mut a1, &format!("m{i}")).await;
    }
    // At most a queue's worth taken by the waiting publisher and as many queued behind it: the
    // rest were dropped and counted.
    let dropped = a.stats().backplane.dropped;
    assert!((12..=19).contains(&dropped), "dropped {dropped}");
    // Once the broker answers again, the publishes it was given went through.
    eventually(|| a.stats().backplane.published + dropped == 20).await;
}
