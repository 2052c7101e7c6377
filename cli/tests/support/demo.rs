//! The demo binary as a test starts it: on free ports, its banner read for
//! the app's and the agent's addresses (shared by the cli's tests).

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running demo: the process, its stdout lines, and its two addresses.
pub struct Demo {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
    pub app: SocketAddr,
    pub agent: SocketAddr,
}

/// The `http://ADDR/` address on the banner line starting with `label`.
pub fn address(line: &str) -> SocketAddr {
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    url["http://".len()..]
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

pub fn start(extra: &[&str]) -> Demo {
    start_on("127.0.0.1:0", extra)
}

/// The demo with its agent on `agent`.
pub fn start_on(agent: &str, extra: &[&str]) -> Demo {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tailwatch"))
        .args(["demo", "--listen", "127.0.0.1:0", "--agent-listen", agent])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the demo starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let (mut app, mut agent) = (None, None);
    while app.is_none() || agent.is_none() {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no banner; got {seen:?}"));
        if line.trim_start().starts_with("app ") {
            app = Some(address(&line));
        }
        if line.trim_start().starts_with("metrics ") {
            agent = Some(address(&line));
        }
        seen.push(line);
    }
    Demo {
        child,
        lines,
        seen,
        app: app.unwrap(),
        agent: agent.unwrap(),
    }
}

impl Demo {
    /// Waits for the process to exit by itself; its status and whole stdout.
    pub fn wait(mut self, within: Duration) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.seen.extend(self.lines.try_iter());
                // The reader thread may still hold the last lines.
                while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(l);
                }
                return (status, self.seen.join("\n"));
            }
            assert!(Instant::now() < deadline, "the demo did not stop by itself");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
