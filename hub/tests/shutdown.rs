//! A graceful stop of a real hub (`cli::start`, HTTP on loopback): a request in flight when the
//! stop begins gets its whole answer, no new connection is accepted meanwhile, an open event
//! stream ends cleanly instead of holding the stop, and every worker stops within the grace.

mod support;

use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use xt_hub::cli::{Running, init_hub, start};
use xt_hub::store::Store;

/// Long enough never to be reached by a stop that works: reaching it aborts workers, which the
/// tests see in the report.
const GRACE: Duration = Duration::from_secs(10);

async fn serving() -> (tempfile::TempDir, String, Running) {
    let dir = tempfile::tempdir().unwrap();
    let made = init_hub(dir.path(), &support::acme()).unwrap();
    let running = start(&support::loopback_serve_args(dir.path()))
        .await
        .unwrap();
    (dir, made.admin_key, running)
}

/// Reads from `conn` until the end of a response head.
async fn read_head(conn: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = conn.read(&mut byte).await.unwrap();
        assert_eq!(n, 1, "connection closed in a response head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Waits (bounded) until connecting to `addr` is refused.
async fn refused(addr: SocketAddr) -> bool {
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_at_shutdown_gets_its_whole_answer_and_new_connections_are_refused() {
    let (dir, key, running) = serving().await;
    let addr = running.http_addr;
    assert_eq!(
        running.workers(),
        [
            "quic",
            "http",
            "dashboard-ticker",
            "refresh-sweep",
            "capture",
            "fulfilment",
            "tpl-sender",
            "write-back",
            "log-trimmer"
        ]
    );

    // A request whose handler is running: it asked for the body (100 Continue) and waits for it.
    let body = json!({"name": "sent during shutdown", "scopes": ["stock:read"]}).to_string();
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/api-keys HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {key}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nexpect: 100-continue\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let interim = read_head(&mut conn).await;
    assert!(interim.starts_with("HTTP/1.1 100 Continue"), "{interim}");

    let stopping = tokio::spawn(running.shutdown_within(GRACE));
    assert!(
        refused(addr).await,
        "a new connection was accepted while stopping"
    );

    conn.write_all(body.as_bytes()).await.unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
    let (_, json_body) = reply.split_once("\r\n\r\n").unwrap();
    let created: Value = serde_json::from_str(json_body).unwrap();
    assert!(created["secret"].as_str().is_some(), "{created}");

    let report = stopping.await.unwrap();
    assert!(report.aborted.is_empty(), "{report:?}");
    assert_eq!(report.stopped.len(), 9, "{report:?}");

    // Every worker let go of the hub: the database opens at once, with the key in it.
    let store = Store::open(&dir.path().join(xt_hub::hub::DB_FILE)).unwrap();
    let keys = store
        .api_keys(&support::acme())
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect::<Vec<_>>();
    assert!(
        keys.contains(&"sent during shutdown".to_owned()),
        "{keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_event_stream_ends_cleanly_and_does_not_hold_the_shutdown() {
    let (_dir, key, running) = serving().await;
    let mut stream = reqwest::Client::new()
        .get(format!("http://{}/api/v1/events", running.http_addr))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), reqwest::StatusCode::OK);

    let report = running.shutdown_within(GRACE).await;
    assert!(report.aborted.is_empty(), "{report:?}");
    // The end of the chunked body, not a reset: an EventSource reconnects and resumes.
    while stream.chunk().await.unwrap().is_some() {}
}
