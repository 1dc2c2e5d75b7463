//! SPEC 14.1–14.2: topics within one server — subscribe/unsubscribe, publish from the server (every
//! subscriber) and from a session (every subscriber but it), subscriptions ending with the session,
//! slow subscribers under each policy, and one compression per shareable deflate setting.
mod common;

use common::*;
use flate2::{Decompress, FlushDecompress};
use tokio_tungstenite::tungstenite::Message;
use wssession_core::{Error, Frame, Server, ServerConfig, Session, SlowSubscriber, State};

/// A real client and its server-side session.
async fn pair(server: &Server, sessions: &mut tokio::sync::mpsc::UnboundedReceiver<Session>) -> (Client, Session) {
    let client = connect(server).await;
    (client, next_session(sessions).await)
}

/// Asserts that the next message `client` sees is `text`.
async fn expect_text(client: &mut Client, text: &str) {
    assert_eq!(next(client).await, Some(Message::text(text)));
}

/// Proves `client` got nothing before this point: a message sent to it directly arrives next.
async fn got_nothing_else(client: &mut Client, session: &Session) {
    session.try_send(Frame::text("marker")).unwrap();
    expect_text(client, "marker").await;
}

#[tokio::test]
async fn a_server_publish_reaches_every_subscriber_and_nobody_else() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let (mut a, sa) = pair(&server, &mut sessions).await;
    let (mut b, sb) = pair(&server, &mut sessions).await;
    let (mut c, sc) = pair(&server, &mut sessions).await;
    assert!(sa.subscribe("news").unwrap());
    assert!(sb.subscribe("news").unwrap());
    sc.subscribe("sport").unwrap();
    assert_eq!((server.subscriber_count("news"), server.subscriber_count("sport")), (2, 1));
    assert_eq!(server.subscriber_count("weather"), 0);
    assert_eq!(server.topics(), ["news", "sport"]);

    let published = server.publish("news", b"headline", true, None).unwrap();
    assert_eq!((published.delivered, published.dropped, published.closed), (2, 0, 0));
    expect_text(&mut a, "headline").await;
    expect_text(&mut b, "headline").await;
    got_nothing_else(&mut c, &sc).await;

    server.publish("sport", &[1, 2, 3], false, None).unwrap();
    assert_eq!(next(&mut c).await, Some(Message::binary(vec![1, 2, 3])));
    assert_eq!(server.publish("weather", b"rain", true, None).unwrap().delivered, 0, "no subscribers");
    got_nothing_else(&mut a, &sa).await;

    let stats = server.stats();
    assert_eq!((stats.publishes, stats.publish_deliveries, stats.publish_drops), (3, 3, 0));
    assert_eq!(stats.topics["news"].deliveries, 2);
    assert!(server.metrics().contains("wssession_topic_deliveries_total{topic=\"news\"} 2"));
}

#[tokio::test]
async fn a_session_publish_reaches_every_subscriber_but_the_sender() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let (mut a, sa) = pair(&server, &mut sessions).await;
    let (mut b, sb) = pair(&server, &mut sessions).await;
    let (mut c, sc) = pair(&server, &mut sessions).await;
    sa.subscribe("room").unwrap();
    sb.subscribe("room").unwrap();

    let published = sa.publish("room", b"hello from a", true, None).unwrap();
    assert_eq!(published.delivered, 1);
    expect_text(&mut b, "hello from a").await;
    got_nothing_else(&mut a, &sa).await;

    // A session need not be subscribed to publish.
    assert_eq!(sc.publish("room", b"from outside", true, None).unwrap().delivered, 2);
    expect_text(&mut a, "from outside").await;
    expect_text(&mut b, "from outside").await;
    got_nothing_else(&mut c, &sc).await;
}

#[tokio::test]
async fn unsubscribe_stops_delivery_and_each_call_reports_whether_it_changed_anything() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let (mut a, sa) = pair(&server, &mut sessions).await;
    assert!(sa.subscribe("b-topic").unwrap());
    assert!(!sa.subscribe("b-topic").unwrap(), "already subscribed");
    assert!(sa.subscribe("a-topic").unwrap());
    assert_eq!(sa.subscriptions(), ["a-topic", "b-topic"]);
    assert!(sa.is_subscribed("a-topic") && !sa.is_subscribed("c-topic"));

    assert!(sa.unsubscribe("b-topic"));
    assert!(!sa.unsubscribe("b-topic"), "no longer subscribed");
    assert!(!sa.unsubscribe("never"));
    assert_eq!(sa.subscriptions(), ["a-topic"]);
    assert_eq!(server.topics(), ["a-topic"], "a topic without subscribers is gone");
    assert_eq!(server.publish("b-topic", b"x", true, None).unwrap().delivered, 0);
    server.publish("a-topic", b"still here", true, None).unwrap();
    expect_text(&mut a, "still here").await;
}

#[tokio::test]
async fn subscriptions_end_when_the_session_closes() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let (mut a, sa) = pair(&server, &mut sessions).await;
    let (_b, sb) = pair(&server, &mut sessions).await;
    sa.subscribe("t1").unwrap();
    sa.subscribe("t2").unwrap();
    sb.subscribe("t2").unwrap();

    send(&mut a, Message::Close(None)).await;
    assert_eq!(within(sa.close_reason()).await.code, 1005);
    assert_eq!(sa.state(), State::Closed);
    assert!(sa.subscriptions().is_empty());
    assert_eq!((server.subscriber_count("t1"), server.subscriber_count("t2")), (0, 1));
    assert_eq!(server.topics(), ["t2"]);
    assert!(matches!(sa.subscribe("t3"), Err(Error::Closed(_))), "a closed session cannot subscribe");
    assert!(matches!(sa.publish("t2", b"x", true, None), Err(Error::Closed(_))));
    assert!(server.topics() == ["t2"] && sa.subscriptions().is_empty());
}

#[tokio::test]
async fn bad_topic_names_and_invalid_text_are_refused_by_name() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let (_a, sa) = pair(&server, &mut sessions).await;
    let long = "x".repeat(wssession_core::topics::MAX_TOPIC_LEN + 1);
    for bad in ["", long.as_str(), "nul\0inside"] {
        let err = sa.subscribe(bad).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(ref m) if m.contains("topic")), "{err}");
        assert!(server.publish(bad, b"x", true, None).is_err());
    }
    sa.subscribe(&long[1..]).expect("exactly the limit is fine");
    let err = server.publish("t", &[0xff, 0xfe], true, None).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(ref m) if m.contains("UTF-8")), "{err}");
    server.publish("t", &[0xff, 0xfe], false, None).expect("any bytes as binary");
    assert!(wssession_core::topics::topic_name(&[0xc3]).is_err(), "names from bytes must be UTF-8");
    assert!(server.stats().publishes == 1, "refused publishes are not counted");
}

const HIGH: usize = 64 * 1024;
const BIG: usize = 16 * 1024;

fn slow_config(policy: SlowSubscriber) -> ServerConfig {
    let mut c = config_with(|s| {
        s.write_high_water = HIGH;
        s.write_low_water = HIGH / 4;
        s.write_hard_limit = 2 * HIGH;
        s.close_timeout_ms = 300;
    });
    c.slow_subscriber = policy;
    c
}

/// A reading client and a raw one that never reads, both subscribed to "feed". Publishes in lockstep
/// with the reader until the raw one's queue is over the high-water mark; returns how many.
async fn stall_one(server: &Server, sessions: &mut tokio::sync::mpsc::UnboundedReceiver<Session>) -> SlowSetup {
    let (mut fast, sf) = pair(server, sessions).await;
    let raw = Raw::connect(server).await;
    let slow = next_session(sessions).await;
    sf.subscribe("feed").unwrap();
    slow.subscribe("feed").unwrap();
    let mut sent = 0;
    while slow.buffered_amount() <= HIGH {
        let published = server.publish("feed", &vec![sent as u8; BIG], false, None).unwrap();
        assert_eq!((published.delivered, published.dropped), (2, 0));
        assert_eq!(next(&mut fast).await, Some(Message::binary(vec![sent as u8; BIG])));
        sent += 1;
        assert!(sent < 10_000, "the never-reading client's queue never filled");
    }
    SlowSetup { fast, raw, slow, sent }
}

struct SlowSetup {
    fast: Client,
    raw: Raw,
    slow: Session,
    sent: usize,
}

#[tokio::test]
async fn a_slow_subscriber_misses_messages_counted_as_drops_while_the_others_get_every_one() {
    let (server, mut sessions) = session_server(slow_config(SlowSubscriber::Drop)).await;
    let SlowSetup { mut fast, mut raw, slow, sent } = stall_one(&server, &mut sessions).await;
    // Counted in messages: its writer may still hand bytes to the socket meanwhile (a peer that
    // reads nothing still widens its window for a while), which the bytes buffered would show.
    let queued = slow.stats().messages_out;

    for i in 0..3u8 {
        let published = server.publish("feed", &[0xA0 + i; 10], false, None).unwrap();
        assert_eq!((published.delivered, published.dropped, published.closed), (1, 1, 0));
        assert_eq!(next(&mut fast).await, Some(Message::binary(vec![0xA0 + i; 10])));
    }
    assert_eq!(slow.stats().messages_out, queued, "nothing more was queued for the slow one");
    assert_eq!(slow.state(), State::Open, "dropping keeps it open");
    let stats = server.stats();
    assert_eq!((stats.publish_drops, stats.slow_subscriber_closes), (3, 0));
    assert_eq!(stats.topics["feed"].drops, 3);

    // Once it reads, it gets exactly what was queued for it, then messages again.
    for n in 0..sent {
        assert_eq!(raw.read_frame().await.unwrap().1, vec![n as u8; BIG]);
    }
    eventually(|| slow.buffered_amount() == 0).await;
    assert_eq!(server.publish("feed", b"back", false, None).unwrap().delivered, 2);
    assert_eq!(raw.read_frame().await.unwrap().1, b"back");
}

#[tokio::test]
async fn a_slow_subscriber_is_closed_with_the_configured_code_and_the_others_carry_on() {
    for code in [1008, 1013] {
        let (server, mut sessions) = session_server(slow_config(SlowSubscriber::Close(code))).await;
        let SlowSetup { mut fast, mut raw, slow, sent } = stall_one(&server, &mut sessions).await;

        let published = server.publish("feed", b"one more", false, None).unwrap();
        assert_eq!((published.delivered, published.dropped, published.closed), (1, 0, 1));
        assert_eq!(next(&mut fast).await, Some(Message::binary(&b"one more"[..])));
        assert_eq!(server.stats().slow_subscriber_closes, 1);

        // What was queued still comes first, then the Close with the policy's code.
        for n in 0..sent {
            assert_eq!(raw.read_frame().await.unwrap().1, vec![n as u8; BIG]);
        }
        assert_eq!(raw.read_close_frame().await, Some((Some(code), "slow subscriber".into())));
        let reason = within(slow.close_reason()).await;
        assert_eq!((reason.code, reason.initiator), (code, wssession_core::Initiator::Local));
        eventually(|| server.subscriber_count("feed") == 1).await;
        assert_eq!(server.publish("feed", b"after", false, None).unwrap().delivered, 1);
        assert_eq!(next(&mut fast).await, Some(Message::binary(&b"after"[..])));
    }
}

#[test]
fn the_slow_subscriber_close_code_is_validated_with_the_server_config() {
    let c = ServerConfig { slow_subscriber: SlowSubscriber::Close(1000), ..ServerConfig::default() };
    let err = c.validate().unwrap_err().to_string();
    assert!(err.contains("slow_subscriber"), "{err}");
}

/// A deflate client: the raw connection and its inflater (context kept unless reset per message).
struct DeflateClient {
    raw: Raw,
    inflater: Decompress,
    reset: bool,
}

impl DeflateClient {
    async fn connect(server: &Server, offer: &str) -> Self {
        let raw = Raw::connect_with(server, &format!("Sec-WebSocket-Extensions: {offer}\r\n")).await;
        let reset = offer.contains("server_no_context_takeover");
        Self { raw, inflater: Decompress::new(false), reset }
    }

    /// The next message, inflated when RSV1 says it is compressed; with whether it was.
    async fn message(&mut self) -> (Vec<u8>, bool) {
        let (b0, payload) = self.raw.read_frame().await.expect("a frame");
        if b0 & 0x40 == 0 {
            return (payload, false);
        }
        let mut input = payload;
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut out = Vec::with_capacity(64 * 1024);
        self.inflater.decompress_vec(&input, &mut out, FlushDecompress::Sync).unwrap();
        if self.reset {
            self.inflater.reset(false);
        }
        (out, true)
    }
}

#[tokio::test]
async fn a_publish_is_compressed_once_per_shared_setting_and_once_per_session_that_keeps_context() {
    let config = ServerConfig { deflate: wssession_core::DeflateConfig::enabled(), ..ServerConfig::default() };
    let (server, mut sessions) = session_server(config).await;
    let mut clients = vec![];
    // Four sessions share one setting, two keep their context, one has no deflate.
    for offer in ["permessage-deflate; server_no_context_takeover"; 4]
        .into_iter()
        .chain(["permessage-deflate"; 2])
        .chain(["x-none"])
    {
        let client = DeflateClient::connect(&server, offer).await;
        next_session(&mut sessions).await.subscribe("deflated").unwrap();
        clients.push(client);
    }
    let message = b"a compressible message, a compressible message, a compressible message".repeat(4);
    for round in 1..=2u64 {
        assert_eq!(server.publish("deflated", &message, true, None).unwrap().delivered, 7);
        assert_eq!(server.stats().publish_compressions, 3 * round, "1 shared + 2 with their own context");
        for (i, c) in clients.iter_mut().enumerate() {
            assert_eq!(c.message().await, (message.clone(), i < 6), "client {i}, round {round}");
        }
    }
    // Asked not to compress: nobody compresses.
    server.publish("deflated", &message, true, Some(false)).unwrap();
    assert_eq!(server.stats().publish_compressions, 6);
    for c in &mut clients {
        assert_eq!(c.message().await, (message.clone(), false));
    }
}

#[tokio::test]
async fn a_subscriber_sending_a_fragmented_message_misses_publishes_until_it_ends() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let (mut a, sa) = pair(&server, &mut sessions).await;
    sa.subscribe("t").unwrap();
    sa.try_send(Frame::text("frag").with_fin(false)).unwrap();
    let published = server.publish("t", b"cannot go in the middle", true, None).unwrap();
    assert_eq!((published.delivered, published.dropped), (0, 1));
    sa.try_send(Frame::new(wssession_core::FrameType::Text, "ment")).unwrap();
    expect_text(&mut a, "fragment").await;
    server.publish("t", b"after", true, None).unwrap();
    expect_text(&mut a, "after").await;
    assert_eq!(server.stats().publish_drops, 1);
}
