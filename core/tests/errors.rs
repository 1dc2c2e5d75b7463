//! SPEC 10: every error kind exists with a stable name and a message that says what to do.
use std::sync::Arc;

use wssession_core::{CloseReason, Error, Frame, Initiator, ViolationKind};

#[test]
fn every_error_kind_has_a_stable_name_and_a_useful_message() {
    let cases: Vec<(Error, &str, &str)> = vec![
        (Error::Closed(Some(CloseReason::new(1001, "bye", Initiator::Remote))), "CLOSED", "1001"),
        (Error::Closed(None), "CLOSED", "closed"),
        (Error::Timeout("no pong within 100 ms".into()), "TIMEOUT", "no pong"),
        (Error::InvalidArgument("close code 1005 may not be sent".into()), "INVALID_ARGUMENT", "1005"),
        (
            Error::Protocol {
                kind: ViolationKind::Unmasked,
                code: 1002,
                message: "client frames must be masked".into(),
            },
            "PROTOCOL",
            "1002",
        ),
        (Error::TooBig { size: 20, limit: 10 }, "TOO_BIG", "limit of 10"),
        (Error::NoConverter, "NO_CONVERTER", "converter"),
        (Error::Deserialize { frame: Box::new(Frame::text("x")), message: "eof".into() }, "DESERIALIZE", "eof"),
        (Error::Io(Arc::new(std::io::Error::other("reset"))), "IO", "reset"),
        (Error::Handshake("bad key".into()), "HANDSHAKE", "bad key"),
        (Error::WouldBlock, "WOULD_BLOCK", "full"),
        (Error::Dropped, "DROPPED", "dropped"),
        (Error::WouldDeadlock, "WOULD_DEADLOCK", "use the async"),
        (Error::AlreadyStarted, "ALREADY_STARTED", "already started"),
        (Error::RuntimeStarted, "RUNTIME_STARTED", "before first use"),
    ];
    for (err, kind, fragment) in cases {
        assert_eq!(err.kind(), kind);
        let msg = err.to_string();
        assert!(msg.contains(fragment), "{kind}: {msg:?} lacks {fragment:?}");
    }
}
