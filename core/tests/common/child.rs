//! A second process for multi-process tests: this test binary run again on one `#[ignore]`d test
//! that prints "WSS_CHILD_READY" once it serves and exits when its stdin closes.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};

use crate::common::within;

/// The running second process; killed if the test fails before it exits by itself.
pub struct ChildProcess {
    child: Option<Child>,
    rest: Option<BufReader<ChildStdout>>,
}

impl ChildProcess {
    /// Runs the ignored test `name` of this binary with `env`, and waits until it is ready.
    pub async fn start(name: &str, env: &[(&str, String)]) -> ChildProcess {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--ignored", "--exact", name, "--nocapture", "--test-threads=1"]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("second process starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap());
        let mut process = ChildProcess { child: Some(child), rest: None };
        let ready = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            while lines.read_line(&mut line).unwrap() > 0 {
                if line.contains("WSS_CHILD_READY") {
                    return Some(lines);
                }
                line.clear();
            }
            None
        });
        process.rest = Some(within(ready).await.unwrap().expect("the second process became ready"));
        process
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Closes its stdin and asserts that it exits successfully (its output in the message if not).
    pub async fn finish(mut self) {
        let mut child = self.child.take().unwrap();
        drop(child.stdin.take());
        let mut rest = self.rest.take().unwrap();
        let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
        let mut out = String::new();
        rest.read_to_string(&mut out).unwrap();
        assert!(status.success(), "second process: {status}\n{out}");
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// In the second process: reports ready, then waits until the parent closes its stdin.
pub async fn serve_until_stdin_closes() {
    println!("WSS_CHILD_READY");
    tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await.unwrap().unwrap();
}
