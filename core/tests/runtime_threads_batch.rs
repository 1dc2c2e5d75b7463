//! `runtime::set_threads_batch` switches every runtime thread's scheduling policy now, and back.
#![cfg(target_os = "linux")]

use wssession_core::runtime;

/// The policies of this process's runtime threads (named "wssession").
fn runtime_policies() -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = entry.unwrap().path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim() != "wssession" {
            continue;
        }
        let tid: i32 = path.file_name().unwrap().to_str().unwrap().parse().unwrap();
        // SAFETY: sched_getscheduler only reads the policy of thread `tid` of this process.
        out.push(unsafe { libc::sched_getscheduler(tid) });
    }
    out
}

#[test]
fn every_runtime_thread_switches_to_sched_batch_and_back_now() {
    runtime::set_worker_threads(2).unwrap();
    runtime::runtime();
    // Worker threads register as they start: poll (bounded) until both have.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while runtime::thread_count() < 2 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(runtime::thread_count(), 2, "both workers are tracked");
    assert_eq!(runtime_policies(), vec![libc::SCHED_OTHER; 2]);
    runtime::set_threads_batch(true);
    assert_eq!(runtime_policies(), vec![libc::SCHED_BATCH; 2]);
    runtime::set_threads_batch(false);
    assert_eq!(runtime_policies(), vec![libc::SCHED_OTHER; 2]);
}
