//! The `xt-platform-sim` binary: one shop per platform, announced on one JSON line.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Kills the simulator even when an assertion fails first.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// Stopped with `kill -TERM`: Unix only.
#[cfg(unix)]
#[tokio::test]
async fn the_binary_announces_its_shops_and_serves_them() {
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_xt-platform-sim"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--seed",
                "3",
                "--orders",
                "8",
                "--faults",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let announced: Value = serde_json::from_str(&line).unwrap();
    let shops = announced["shops"].as_array().unwrap();
    let keys: Vec<&str> = shops.iter().map(|s| s["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["tb-1", "jd-1", "shopify-1", "woo-1"]);
    for shop in shops {
        assert_eq!(shop["credentials"].as_array().unwrap().len(), 3, "{shop}");
        assert!(
            shop["base_url"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:")
        );
    }
    let addr = announced["addr"].as_str().unwrap();
    let truth: Value = reqwest::get(format!("http://{addr}/_sim/truth/jd-1"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // --faults: 3 of the 8 orders are malformed.
    assert_eq!(truth["malformed"].as_array().unwrap().len(), 3, "{truth}");
    // An update round a second may have added orders since.
    assert!(truth["orders"].as_array().unwrap().len() >= 5, "{truth}");

    // SIGTERM stops it cleanly (exit code 0).
    let pid = child.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
