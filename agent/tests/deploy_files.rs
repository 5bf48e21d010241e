//! The systemd units in `deploy/` start the binaries with a command line their CLIs accept.

use clap::Parser;
use std::path::{Path, PathBuf};
use xt_agent::cli::{Cli, Command};
use xt_agent::config::AgentConfig;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read_unit(name: &str) -> String {
    let path = deploy_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The value of the one `key=` line of `unit` (comments ignored).
fn directive<'a>(unit: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}=");
    let values: Vec<&str> = unit
        .lines()
        .map(str::trim)
        .filter_map(|line| line.strip_prefix(prefix.as_str()))
        .collect();
    assert_eq!(
        values.len(),
        1,
        "expected exactly one {key}= line, found {values:?}"
    );
    let value = values[0].trim();
    assert!(
        !value.ends_with('\\'),
        "{key}= must fit on one line: {value}"
    );
    value
}

#[test]
fn agent_unit_runs_a_command_line_the_cli_accepts() {
    let unit = read_unit("xt-agent.service");
    let exec = directive(&unit, "ExecStart");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/xt-agent"));
    let argv = std::iter::once("xt-agent").chain(words);
    let cli = Cli::try_parse_from(argv)
        .unwrap_or_else(|e| panic!("xt-agent refuses ExecStart={exec}:\n{e}"));
    let Command::Run { config } = cli.command else {
        panic!("ExecStart={exec} is not `xt-agent run`");
    };
    assert_eq!(config, Path::new("/etc/xt-agent/agent.toml"));

    // The example config, copied to that path, keeps its data in the unit's state directory.
    let state = directive(&unit, "StateDirectory");
    let example =
        AgentConfig::load(&deploy_dir().join("agent.example.toml")).expect("example config");
    assert_eq!(example.data_dir, Path::new("/var/lib").join(state));
    assert!(
        unit.lines()
            .any(|l| l.trim() == format!("ReadWritePaths=/var/lib/{state}")),
        "the state directory is writable"
    );
}

#[test]
fn hub_unit_runs_serve_on_its_state_directory() {
    let unit = read_unit("xt-hub.service");
    let exec = directive(&unit, "ExecStart");
    assert!(
        exec.starts_with("/usr/local/bin/xt-hub "),
        "ExecStart={exec}"
    );
    assert!(
        exec.contains(" serve --data "),
        "ExecStart={exec} is not `xt-hub serve --data …`"
    );
    let state = directive(&unit, "StateDirectory");
    assert!(
        exec.contains(&format!("--data /var/lib/{state} ")),
        "ExecStart={exec} does not use the state directory /var/lib/{state}"
    );
}
