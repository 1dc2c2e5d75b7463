//! SPEC 6 (TCP reset → 1006) and 3.4 (bounded resources): a session that ended releases its socket even
//! while the application (or a binding's wrapper object, freed only by a garbage collector) still holds
//! a handle to it. Alone in its file: it counts this process's open file descriptors.
mod common;

use common::*;
use wssession_core::{Initiator, ServerConfig};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count()
}

#[tokio::test]
async fn a_reset_session_closes_its_socket_while_handles_to_it_are_held() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let baseline = open_fds();
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut raw = Raw::connect(&server).await;
        held.push(next_session(&mut sessions).await);
        raw.write(&encode(2, true, &[7u8; 100], Some([1, 2, 3, 4]))[..50]).await; // mid-frame
        #[allow(deprecated)] // SO_LINGER 0 is exactly what makes the drop send a reset.
        raw.tcp.set_linger(Some(std::time::Duration::ZERO)).unwrap();
        drop(raw);
    }
    for session in &held {
        assert_eq!(within(session.close_reason()).await.initiator, Initiator::Abnormal);
    }
    // Every handle is still alive here; the sockets must be gone anyway.
    eventually(|| open_fds() <= baseline).await;
    assert_eq!(held.len(), 20);
}
