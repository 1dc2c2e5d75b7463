//! `topics::broadcast` (what Python's `broadcast()` is built on): one message to a given list of
//! sessions, framed once, never waiting; for each session, whether it was queued or why not.
mod common;

use common::*;
use tokio_tungstenite::tungstenite::Message;
use wssession_core::topics::{Broadcast, broadcast};
use wssession_core::{Error, Frame, FrameType, ServerConfig, TrySend};

const HIGH: usize = 64 * 1024;

#[tokio::test]
async fn a_broadcast_reaches_every_open_session_and_skips_the_closing_ones() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut a = connect(&server).await;
    let sa = next_session(&mut sessions).await;
    let mut b = connect(&server).await;
    let sb = next_session(&mut sessions).await;
    let _c = connect(&server).await;
    let sc = next_session(&mut sessions).await;
    sc.close(1000, "bye").unwrap();

    let all = [sa.clone(), sb.clone(), sc.clone()];
    assert_eq!(
        broadcast(&all, "to all".as_bytes(), true, None).unwrap(),
        [Broadcast::Queued, Broadcast::Queued, Broadcast::NotOpen]
    );
    assert_eq!(broadcast(&all[..2], &[0, 255], false, None).unwrap(), [Broadcast::Queued, Broadcast::Queued]);
    for client in [&mut a, &mut b] {
        assert_eq!(next(client).await, Some(Message::text("to all")));
        assert_eq!(next(client).await, Some(Message::binary(vec![0, 255])));
    }
    assert_eq!(broadcast(&[], b"nobody", true, None).unwrap(), []);
}

#[tokio::test]
async fn a_broadcast_of_text_that_is_not_utf8_is_refused_and_nothing_is_sent() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut a = connect(&server).await;
    let sa = next_session(&mut sessions).await;
    let err = broadcast(std::slice::from_ref(&sa), &[0xff], true, None).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    sa.try_send(Frame::text("marker")).unwrap();
    assert_eq!(next(&mut a).await, Some(Message::text("marker")));
}

#[tokio::test]
async fn a_broadcast_skips_a_session_over_its_write_limit_or_mid_fragment_and_still_reaches_the_others() {
    let config = config_with(|s| {
        s.write_high_water = HIGH;
        s.write_low_water = HIGH / 4;
        s.write_hard_limit = 4 * HIGH;
    });
    let (server, mut sessions) = session_server(config).await;
    let mut fast = connect(&server).await;
    let sf = next_session(&mut sessions).await;
    let _raw = Raw::connect(&server).await; // never reads
    let slow = next_session(&mut sessions).await;
    let _mid = connect(&server).await;
    let sm = next_session(&mut sessions).await;
    while slow.buffered_amount() <= HIGH {
        assert_ne!(slow.try_send(Frame::binary(vec![0; 16 * 1024])).unwrap(), TrySend::Dropped);
        tokio::task::yield_now().await;
    }
    sm.try_send(Frame::new(FrameType::Text, "first half").with_fin(false)).unwrap();

    let out = broadcast(&[slow.clone(), sm.clone(), sf.clone()], b"news", true, None).unwrap();
    assert_eq!(out, [Broadcast::OverLimit, Broadcast::MidFragment, Broadcast::Queued]);
    assert_eq!(next(&mut fast).await, Some(Message::text("news")));
}
