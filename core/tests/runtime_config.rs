//! SPEC 9.3: the runtime's thread count (and scheduling policy) is configurable before first use (own process: one test).
use wssession_core::runtime;

#[test]
fn the_worker_thread_count_and_scheduling_set_before_first_use_are_applied() {
    runtime::set_worker_threads(3).unwrap();
    runtime::set_batch_scheduling(true).unwrap();
    assert_eq!(runtime::runtime().metrics().num_workers(), 3);
    assert!(runtime::set_worker_threads(4).is_err());
    // SAFETY: sched_getscheduler(0) only reads the calling (worker) thread's policy.
    let on_worker = runtime::spawn(async { unsafe { libc::sched_getscheduler(0) } });
    let policy = runtime::block_on(on_worker).unwrap().unwrap();
    #[cfg(target_os = "linux")]
    assert_eq!(policy, libc::SCHED_BATCH);
    let _ = policy;
}
