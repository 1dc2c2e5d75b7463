//! Real brokers for the backplane tests: `redis-server` and `nats-server` (Debian packages, which
//! `make test` installs when missing) started on 127.0.0.1 with an ephemeral port, stopped by pid.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which broker, and how it keeps its data across a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Redis without persistence: a restart loses every key (a new epoch for every history).
    Redis,
    /// Redis with an append-only file synced on every write: a restart keeps the history.
    RedisPersistent,
    /// NATS with its monitoring port (for `/subsz`).
    Nats,
}

/// A broker process this test started; killed (by its pid) and its directory removed on drop.
pub struct Broker {
    kind: Kind,
    child: Option<Child>,
    /// The client port.
    pub port: u16,
    /// NATS' monitoring port.
    pub monitor_port: u16,
    dir: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Broker {
    /// Starts a broker of `kind` and waits until it answers.
    pub fn start(kind: Kind) -> Broker {
        let dir = std::env::temp_dir().join(format!("wss-broker-{}-{}", std::process::id(), fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let mut b = Broker { kind, child: None, port: free_port(), monitor_port: free_port(), dir };
        b.launch();
        b
    }

    /// The backplane URL of this broker (with `query`, e.g. "history=100", when not empty).
    pub fn url(&self, query: &str) -> String {
        let scheme = if self.kind == Kind::Nats { "nats" } else { "redis" };
        let q = if query.is_empty() { String::new() } else { format!("?{query}") };
        format!("{scheme}://127.0.0.1:{}{q}", self.port)
    }

    fn launch(&mut self) {
        let port = self.port.to_string();
        let mut cmd = match self.kind {
            Kind::Redis | Kind::RedisPersistent => {
                let mut c = Command::new("redis-server");
                c.args(["--port", &port, "--bind", "127.0.0.1", "--save", "", "--protected-mode", "no"]);
                c.arg("--dir").arg(&self.dir);
                if self.kind == Kind::RedisPersistent {
                    c.args(["--appendonly", "yes", "--appendfsync", "always"]);
                } else {
                    c.args(["--appendonly", "no"]);
                }
                c
            }
            Kind::Nats => {
                let mut c = Command::new("nats-server");
                c.args(["-a", "127.0.0.1", "-p", &port, "-m", &self.monitor_port.to_string()]);
                c
            }
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?} (run `make brokers` to install it): {e}", self.kind));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers() {
            assert!(Instant::now() < deadline, "{:?} did not start on port {}", self.kind, self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        if self.kind == Kind::Nats {
            let mut buf = [0u8; 4];
            return s.read_exact(&mut buf).is_ok() && &buf == b"INFO";
        }
        let mut buf = [0u8; 5];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG"
    }

    /// Kills the broker by its pid and waits for it to exit (clients see their connections drop).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (and, for `RedisPersistent`, the same data).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// A Redis connection for checking the broker's side (`PUBSUB CHANNELS`, keys).
    pub fn redis(&self) -> redis::Connection {
        redis::Client::open(self.url("")).unwrap().get_connection().unwrap()
    }

    /// How many client subscriptions NATS holds on `subject`.
    pub fn nats_subscription_count(&self, subject: &str) -> usize {
        self.nats_subscriptions().iter().filter(|s| *s == subject).count()
    }

    fn nats_subscriptions(&self) -> Vec<String> {
        let url = format!("http://127.0.0.1:{}/subsz?subs=1", self.monitor_port);
        let Ok(response) = ureq::get(&url).call() else { return vec![] };
        let body = response.into_body().read_to_string().unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        v["subscriptions_list"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|s| s["subject"].as_str().map(str::to_owned))
                    .filter(|s| !s.starts_with('$') && !s.starts_with("_INBOX."))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The subjects clients subscribed on NATS (its monitoring endpoint; the server's own `$SYS`
    /// and the clients' `_INBOX` subscriptions left out).
    pub fn nats_subjects(&self) -> Vec<String> {
        let mut subjects = self.nats_subscriptions();
        subjects.sort();
        subjects.dedup();
        subjects
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `cond` until it holds or `limit` passes; true when it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
