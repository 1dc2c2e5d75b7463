//! SPEC 9.3: one internal multi-threaded runtime; handlers run on its threads, never the caller's;
//! a blocking call from a runtime thread is WouldDeadlock; configuring it after first use is refused.
mod common;

use common::*;
use tokio::sync::mpsc;
use wssession_core::{Error, EventHandler, Frame, Handler, ServerConfig, Session, runtime};

struct WhereAmI(mpsc::UnboundedSender<(Option<String>, bool)>);

impl EventHandler for WhereAmI {
    fn on_open(&self, _: &Session) {
        let name = std::thread::current().name().map(str::to_owned);
        let blocked = matches!(runtime::block_on(async {}), Err(Error::WouldDeadlock));
        let _ = self.0.send((name, blocked));
    }
    fn on_message(&self, _: &Session, _: Frame) {}
}

#[tokio::test]
async fn callbacks_run_on_the_internal_runtime_where_blocking_calls_are_refused() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = start(ServerConfig::default(), Handler::events(WhereAmI(tx))).await;
    let _raw = Raw::connect(&server).await;
    let (name, blocked) = within(rx.recv()).await.unwrap();
    assert_eq!(name.as_deref(), Some("wssession"), "callbacks run on the runtime's worker threads");
    assert_ne!(std::thread::current().name(), Some("wssession"));
    assert!(blocked, "block_on inside a callback is WouldDeadlock");
    assert!(runtime::runtime().metrics().num_workers() >= 1);
}

#[test]
fn block_on_runs_futures_from_a_plain_thread() {
    assert_eq!(runtime::block_on(async { 21 * 2 }).unwrap(), 42);
    assert!(!runtime::on_runtime_thread());
}

#[test]
fn configuring_threads_after_first_use_is_refused() {
    runtime::runtime();
    assert!(matches!(runtime::set_worker_threads(3), Err(Error::RuntimeStarted)));
    assert!(matches!(runtime::set_batch_scheduling(true), Err(Error::RuntimeStarted)));
}
