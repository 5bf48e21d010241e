//! `xt-hub init` leaves its data directory owner-only (0700) whoever runs it: under a permissive
//! umask, and when the directory already exists group- or world-accessible (it is tightened).
//! The real binary, run through `sh` so the umask is its own and not this test process's.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// Runs `xt-hub init --data <data>` under umask 000.
fn init_with_open_umask(data: &Path) {
    let out = Command::new("sh")
        .args([
            "-c",
            "umask 000 && exec \"$0\" init --data \"$1\" --tenant acme --json",
            env!("CARGO_BIN_EXE_xt-hub"),
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_makes_the_data_directory_owner_only_under_a_permissive_umask() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("hub");
    init_with_open_umask(&data);
    assert_eq!(mode(&data), 0o700, "{:o}", mode(&data));
}

#[test]
fn init_tightens_an_existing_world_readable_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("hub");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
    init_with_open_umask(&data);
    assert_eq!(mode(&data), 0o700, "{:o}", mode(&data));
}

#[test]
fn serve_on_an_empty_directory_says_each_cause_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("nothing-here");
    let out = Command::new(env!("CARGO_BIN_EXE_xt-hub"))
        .args(["serve", "--data", data.to_str().unwrap()])
        .args(["--quic", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("xt-hub init"), "{stderr}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
}
