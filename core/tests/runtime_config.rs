//! SPEC 9.3: the runtime's thread count is configurable before first use (own process: one test).
use wssession_core::runtime;

#[test]
fn the_worker_thread_count_set_before_first_use_is_applied() {
    runtime::set_worker_threads(3).unwrap();
    assert_eq!(runtime::runtime().metrics().num_workers(), 3);
    assert!(runtime::set_worker_threads(4).is_err());
}
