//! Both session modes behave alike (echo, both closing handshakes, the close timeout, terminate, a
//! full incoming queue, a slow reader, pause): `SessionConfig::no_idle_tasks` (the default: a plain
//! TCP session read from the reactor's wake-ups, with a writer task only while the socket holds
//! bytes back) and `no_idle_tasks = false` (a reader and a writer task for the session's life).
mod common;

use common::*;
use tokio_tungstenite::tungstenite::Message;
use wssession_core::{CloseReason, Frame, Handler, Initiator, ServerConfig, State};

/// The two modes: no task while idle (the default), and tasks for the session's life.
const MODES: [bool; 2] = [true, false];

fn mode(no_idle_tasks: bool) -> ServerConfig {
    config_with(|s| s.no_idle_tasks = no_idle_tasks)
}

#[tokio::test]
async fn messages_are_echoed_after_the_connection_sat_idle() {
    for no_idle_tasks in MODES {
        let server = start(mode(no_idle_tasks), Handler::events(Echo)).await;
        let mut client = connect(&server).await;
        for round in 0..3 {
            send(&mut client, Message::text(format!("hello {round}"))).await;
            assert_eq!(next(&mut client).await, Some(Message::text(format!("hello {round}"))));
        }
        let big = vec![7u8; 1 << 20];
        send(&mut client, Message::binary(big.clone())).await;
        assert_eq!(next(&mut client).await, Some(Message::binary(big)), "a message larger than any socket buffer");
    }
}

#[tokio::test]
async fn a_local_close_completes_when_the_peer_answers_and_a_peer_close_is_echoed() {
    for no_idle_tasks in MODES {
        let (server, mut sessions) = session_server(mode(no_idle_tasks)).await;
        let mut raw = Raw::connect(&server).await;
        let session = next_session(&mut sessions).await;
        session.close(1000, "done").unwrap();
        assert_eq!(raw.read_close_frame().await, Some((Some(1000), "done".to_owned())));
        raw.send_close(1000, "").await;
        assert!(raw.eof().await);
        assert_eq!(ended(within(session.close_reason()).await), CloseReason::new(1000, "done", Initiator::Local));

        let mut raw = Raw::connect(&server).await;
        let session = next_session(&mut sessions).await;
        raw.send_close(4001, "bye").await;
        assert_eq!(raw.read_close_frame().await, Some((Some(4001), String::new())));
        assert!(raw.eof().await);
        assert_eq!(within(session.close_reason()).await.code, 4001);
    }
}

#[tokio::test]
async fn a_peer_that_never_answers_our_close_is_cut_off_at_the_close_timeout() {
    for no_idle_tasks in MODES {
        let (server, mut sessions) = session_server(config_with(|s| {
            s.no_idle_tasks = no_idle_tasks;
            s.close_timeout_ms = 60_000;
        }))
        .await;
        let mut raw = Raw::connect(&server).await;
        let session = next_session(&mut sessions).await;
        session.close(1000, "done").unwrap();
        assert_eq!(raw.read_close_frame().await, Some((Some(1000), "done".to_owned())));
        // Shortened while the timer for the first bound runs: the new bound applies.
        session.set_close_timeout_ms(50);
        assert!(raw.eof().await, "the socket is shut without the peer's Close");
        within(session.close_reason()).await;
        assert_eq!(session.state(), State::Closed);
    }
}

#[tokio::test]
async fn terminate_and_a_vanished_peer_end_an_idle_session_with_1006() {
    for no_idle_tasks in MODES {
        let (server, mut sessions) = session_server(mode(no_idle_tasks)).await;
        let mut raw = Raw::connect(&server).await;
        let session = next_session(&mut sessions).await;
        session.terminate();
        assert!(raw.eof().await);
        assert_eq!(within(session.close_reason()).await.code, 1006);

        let raw = Raw::connect(&server).await;
        let session = next_session(&mut sessions).await;
        drop(raw);
        assert_eq!(within(session.close_reason()).await.code, 1006);
    }
}

#[tokio::test]
async fn a_full_incoming_queue_stops_reading_until_messages_are_taken_and_pause_holds_them() {
    for no_idle_tasks in MODES {
        const QUEUE: usize = 4;
        const MESSAGES: usize = 4096;
        const SIZE: usize = 4096;
        let (server, mut sessions) = session_server(config_with(|s| {
            s.no_idle_tasks = no_idle_tasks;
            s.incoming_queue = QUEUE;
        }))
        .await;
        let raw = Raw::connect(&server).await;
        let session = next_session(&mut sessions).await;
        let writer = numbered_messages(raw.tcp, MESSAGES, SIZE);
        eventually(|| session.stats().messages_in as usize > QUEUE).await;
        assert_eq!(session.stats().messages_in as usize, QUEUE + 1, "reading stopped with the queue full");
        assert!(!writer.is_finished(), "the peer was held by TCP backpressure");
        session.pause();
        for i in 0..MESSAGES {
            // Paused, nothing past the queue and the held message is read: resuming goes on.
            if i == QUEUE + 1 {
                session.resume();
            }
            let m = within(session.recv()).await.unwrap().unwrap();
            assert_eq!(u32::from_be_bytes(m.data[..4].try_into().unwrap()) as usize, i);
        }
        within(writer).await.unwrap();
    }
}

#[tokio::test]
async fn what_a_slow_reader_holds_back_is_written_once_it_reads() {
    for no_idle_tasks in MODES {
        let (server, mut sessions) = session_server(config_with(|s| {
            s.no_idle_tasks = no_idle_tasks;
            s.write_high_water = 16 << 20;
            s.write_hard_limit = 32 << 20;
        }))
        .await;
        let mut raw = Raw::connect(&server).await;
        let session = next_session(&mut sessions).await;
        for n in 0..8u8 {
            session.try_send(Frame::binary(vec![n; 1 << 20])).unwrap();
        }
        assert!(session.buffered_amount() > 0, "the socket did not take 8 MiB at once");
        for n in 0..8u8 {
            assert_eq!(raw.read_frame().await.unwrap().1, vec![n; 1 << 20]);
        }
        eventually(|| session.buffered_amount() == 0).await;
        within(session.flush()).await.unwrap();
    }
}
