//! Memory held by clients that ask for `/metrics` and never read the
//! answer, measured by a counting global allocator: 100 such clients at
//! 10,000 series hold at most `max_scrapes` answers (usually one, shared),
//! not one each; the others are refused with 503 at once, counted.
//!
//! Run with: `cargo test --release --test slow_readers -- --nocapture`
//! (One test in this binary, so nothing else allocates meanwhile.)

use std::time::Duration;

use tailwatch::Monitor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
use common::counting::{live, peak, reset_peak};

#[global_allocator]
static GLOBAL: common::counting::Counting = common::counting::Counting;

const CLIENTS: usize = 100;
const MIB: f64 = 1024.0 * 1024.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_clients_that_never_read_hold_at_most_max_scrapes_answers() {
    let m = common::ten_thousand_series();
    // All clients come from 127.0.0.1: the per-peer connection limit is
    // raised so that the scrape limit is what is measured.
    let a = tailwatch::AgentBuilder::new(&m)
        .listen("127.0.0.1:0".parse().unwrap())
        .max_connections_per_peer(CLIENTS + 10)
        .start()
        .await
        .unwrap();
    let addr = a.local_addr();
    let max_scrapes = a_limit();
    // One scrape read whole: the size of an answer (and everything a
    // first scrape allocates for good, out of the way).
    let body = common::get_ok(addr, "/metrics").await.len();
    let body = isize::try_from(body).unwrap();

    let before = live();
    reset_peak();
    // Each client sends its request and reads one byte: the agent has
    // answered (rendered, or refused), and the client then reads no more.
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        clients.push(s);
    }
    let mut first = Vec::new();
    for s in &mut clients {
        let mut head = [0_u8; 12];
        s.read_exact(&mut head).await.unwrap();
        first.push(String::from_utf8_lossy(&head[9..12]).into_owned());
    }
    let held = live() - before;
    let most = peak() - before;
    let answered = first.iter().filter(|s| *s == "200").count();
    let refused = first.iter().filter(|s| *s == "503").count();
    println!(
        "{CLIENTS} clients that never read, 10,000 series ({:.1} MiB a scrape): \
         {answered} answered, {refused} refused; {:.1} MiB held, {:.1} MiB at most \
         (max_scrapes {max_scrapes}; one answer each would be {:.1} MiB)",
        body as f64 / MIB,
        held as f64 / MIB,
        most as f64 / MIB,
        (body * CLIENTS as isize) as f64 / MIB,
    );
    assert_eq!(answered + refused, CLIENTS, "{first:?}");
    assert!(answered <= max_scrapes, "{answered} answered");
    assert_eq!(
        common::counter(&m, tailwatch::agent::SCRAPES_REFUSED),
        refused as u64
    );
    // Bounded by max_scrapes answers (each rendered once, then held by
    // its client), plus per-connection buffers.
    let bound = (max_scrapes as isize + 1) * body + 16 * 1024 * 1024;
    assert!(
        most < bound,
        "{:.1} MiB at most, bound {:.1} MiB",
        most as f64 / MIB,
        bound as f64 / MIB
    );

    // Once they go, their slots are free again.
    drop(clients);
    let mut n = 0;
    loop {
        let (status, _, _) = common::request(addr, "GET", "/metrics", None).await;
        if status == 200 {
            break;
        }
        n += 1;
        assert!(n < 500, "slots never freed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.stop().await;
}

fn a_limit() -> usize {
    tailwatch::AgentBuilder::new(&Monitor::new())
        .limits()
        .max_scrapes()
}
