//! The backplane against real brokers, below the topic hub: what each node's hub is handed.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use super::*;

#[path = "../../tests/common/brokers.rs"]
mod brokers;
use brokers::{Broker, Kind, wait_until as eventually};

/// What a node's hub would deliver: (topic, payload) in order; and its topics.
#[derive(Default)]
struct Seen(Mutex<Vec<(String, Bytes)>>, Mutex<HashSet<String>>);

impl LocalDelivery for Seen {
    fn deliver(&self, topic: &str, payload: Bytes, _text: bool, _compress: Option<bool>, _exclude: Option<u64>) {
        self.0.lock().unwrap().push((topic.to_owned(), payload));
    }

    fn topics(&self) -> HashSet<String> {
        self.1.lock().unwrap().clone()
    }
}

impl Seen {
    fn payloads(&self) -> Vec<Bytes> {
        self.0.lock().unwrap().iter().map(|(_, p)| p.clone()).collect()
    }

    /// A local subscriber to `topic` arrived (`true`) or the last one left.
    fn listen(&self, backplane: &Backplane, topic: &str, on: bool) {
        let mut topics = self.1.lock().unwrap();
        if on {
            topics.insert(topic.to_owned());
        } else {
            topics.remove(topic);
        }
        backplane.interest_changed();
    }
}

fn node(url: &str) -> (Backplane, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let weak: Weak<dyn LocalDelivery> = Arc::downgrade(&(seen.clone() as Arc<dyn LocalDelivery>));
    (Backplane::connect(&BackplaneUrl::parse(url).unwrap(), weak), seen)
}

const LIMIT: Duration = Duration::from_secs(10);

fn channels(broker: &Broker) -> Vec<String> {
    let mut c: Vec<String> = ::redis::cmd("PUBSUB").arg("CHANNELS").query(&mut broker.redis()).unwrap();
    c.sort();
    c
}

#[test]
fn redis_pubsub_carries_a_publish_to_the_node_with_interest_only() {
    let broker = Broker::start(Kind::Redis);
    let (a, seen_a) = node(&broker.url(""));
    let (b, seen_b) = node(&broker.url(""));
    seen_b.listen(&b, "room", true);
    assert!(eventually(LIMIT, || channels(&broker) == ["wss:c:room"]));
    assert_eq!(a.route("room", b"hi", true, None, None), Route::Local);
    assert!(eventually(LIMIT, || seen_b.payloads() == ["hi"]));
    assert!(seen_a.payloads().is_empty());
    seen_b.listen(&b, "room", false);
    assert!(eventually(LIMIT, || channels(&broker).is_empty()));
}

#[test]
fn redis_history_numbers_publishes_and_resumes_from_a_position() {
    let broker = Broker::start(Kind::Redis);
    let (a, seen_a) = node(&broker.url("history=100"));
    seen_a.listen(&a, "t", true);
    assert!(eventually(LIMIT, || channels(&broker) == ["wss:c:t"]));
    let rt = crate::runtime::runtime();
    let p1 = rt.block_on(a.publish_positioned("t", Bytes::from_static(b"1"), true, None, None)).unwrap();
    let p2 = rt.block_on(a.publish_positioned("t", Bytes::from_static(b"2"), true, None, None)).unwrap();
    assert_eq!((p1.offset, p2.offset, &p1.epoch), (1, 2, &p2.epoch));
    assert!(eventually(LIMIT, || seen_a.payloads() == ["1", "2"]));
    let got = Arc::new(Mutex::new(vec![]));
    let sink = got.clone();
    let resume: Resume = Box::new(move |m| {
        *sink.lock().unwrap() = m;
        Ok(())
    });
    let at = rt.block_on(a.recover("t", p1.clone(), resume)).unwrap();
    assert_eq!(at, Some(p2.clone()));
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].position.clone(), got[0].payload.clone()), (p2, Bytes::from_static(b"2")));
    let stale = Position { offset: 1, epoch: "other".into() };
    let err = rt.block_on(a.recover("t", stale, Box::new(|_| Ok(())))).unwrap_err();
    assert!(matches!(err, Error::Recovery(RecoveryFailure::EpochChanged)), "{err}");
}

#[test]
fn nats_carries_a_publish_to_the_node_with_interest_only() {
    let broker = Broker::start(Kind::Nats);
    let (a, seen_a) = node(&broker.url(""));
    let (b, seen_b) = node(&broker.url(""));
    seen_b.listen(&b, "room 1", true);
    let subject = "wss.726f6f6d2031".to_owned();
    assert!(eventually(LIMIT, || broker.nats_subjects() == [subject.clone()]));
    a.route("room 1", b"hi", true, None, None);
    assert!(eventually(LIMIT, || seen_b.payloads() == ["hi"]));
    assert!(seen_a.payloads().is_empty());
    seen_b.listen(&b, "room 1", false);
    assert!(eventually(LIMIT, || broker.nats_subjects().is_empty()));
}
