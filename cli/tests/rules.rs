//! `tailwatch rules`: the rules checked in under `dashboards/` are what the
//! command writes (golden); promtool accepts them and their unit tests
//! pass; a running agent's declared objectives give the same rules as
//! the same objectives in a file; bad files and objectives that could
//! never fire are refused saying where and why.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

#[path = "../../tests/common/mod.rs"]
mod common;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rules(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tailwatch"))
        .arg("rules")
        .args(args)
        .output()
        .expect("tailwatch rules runs")
}

fn written(args: &[&str]) -> String {
    let out = rules(args);
    assert!(
        out.status.success(),
        "tailwatch rules {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The rule files under dashboards/ are the command's output for their
/// objective files: regenerate them with the commands in their headers.
#[test]
fn the_checked_in_rules_are_what_the_command_writes() {
    let root = root();
    for (objectives, rules_file) in [
        (
            "dashboards/objectives.example.yml",
            "dashboards/objectives.rules.yml",
        ),
        (
            "dashboards/tests/objectives.long.yml",
            "dashboards/tests/objectives.long.rules.yml",
        ),
    ] {
        let now = written(&["--objectives", root.join(objectives).to_str().unwrap()]);
        let checked_in = std::fs::read_to_string(root.join(rules_file)).unwrap();
        assert!(
            now == checked_in,
            "{rules_file} is not what `tailwatch rules --objectives {objectives}` writes: regenerate it with `cargo run -- rules --objectives {objectives} -o {rules_file}`"
        );
    }
}

fn promtool(args: &[&str], dir: &Path) {
    common::run_ok("promtool", args, dir);
}

/// promtool accepts the generated rules, and their unit tests pass: a
/// total outage pages within 2 minutes, 2 % errors within the hour, a
/// 30 s blip and a steady half-budget error rate never alert, a quiet
/// service does not page on one failed call, latency SLIs read the exact
/// `le` in either spelling (see the test files for every case).
#[test]
fn promtool_accepts_the_generated_rules_and_their_unit_tests_pass() {
    if !common::available(
        common::installed("promtool"),
        "promtool",
        "apt-get install prometheus",
    ) {
        return;
    }
    let dashboards = root().join("dashboards");
    promtool(&["check", "rules", "objectives.rules.yml"], &dashboards);
    promtool(
        &["test", "rules", "tests/objectives.rules.test.yml"],
        &dashboards,
    );
    promtool(
        &["check", "rules", "tests/objectives.long.rules.yml"],
        &dashboards,
    );
    promtool(
        &["test", "rules", "tests/objectives.long.test.yml"],
        &dashboards,
    );
    // The native variant is valid PromQL too.
    let native = written(&[
        "--native",
        "--objectives",
        dashboards.join("objectives.example.yml").to_str().unwrap(),
    ]);
    let file = std::env::temp_dir().join(format!("tailwatch-native-{}.yml", std::process::id()));
    std::fs::write(&file, native).unwrap();
    promtool(&["check", "rules", file.to_str().unwrap()], &dashboards);
}

/// The objectives a service declares in code, read back from its agent,
/// give the same rules as the same objectives written in a file.
#[test]
fn an_agents_objectives_give_the_rules_of_the_same_file() {
    let monitor = tailwatch::Monitor::new();
    let objectives = tailwatch::objectives::Objectives::new(&monitor);
    objectives
        .add(
            tailwatch::objectives::Objective::latency(
                "checkout-fast",
                Duration::from_millis(300),
                0.99,
            )
            .http_route("POST", "/checkout"),
        )
        .unwrap();
    objectives
        .add(
            tailwatch::objectives::Objective::availability("db-up", 0.995)
                .operation("db \"main\"")
                .min_failures(3)
                .period(Duration::from_secs(30 * 86_400)),
        )
        .unwrap();
    let file =
        std::env::temp_dir().join(format!("tailwatch-objectives-{}.yml", std::process::id()));
    std::fs::write(
        &file,
        r#"objectives:
  - name: checkout-fast
    sli: latency
    threshold: 300ms
    target: 99%
    http_route: /checkout
    method: post
  - name: db-up
    sli: availability
    target: 0.995
    period: 30d
    min_failures: 3
    operation: db "main"
"#,
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let agent = rt
        .block_on(
            tailwatch::AgentBuilder::new(&monitor)
                .listen("127.0.0.1:0".parse().unwrap())
                .start(),
        )
        .unwrap();
    let from_agent = written(&["--agent", &format!("http://{}", agent.local_addr())]);
    let from_file = written(&["--objectives", file.to_str().unwrap()]);
    assert_eq!(from_agent, from_file);
    assert!(from_agent.contains("objective: \"db-up\""));
    // An agent without objectives is an error that says what to do.
    let bare = tailwatch::Monitor::new();
    let bare_agent = rt
        .block_on(
            tailwatch::AgentBuilder::new(&bare)
                .listen("127.0.0.1:0".parse().unwrap())
                .start(),
        )
        .unwrap();
    let out = rules(&["--agent", &format!("http://{}", bare_agent.local_addr())]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("exports no objective"), "{stderr}");
}

fn refused(file_text: &str) -> String {
    let file = std::env::temp_dir().join(format!(
        "tailwatch-bad-objectives-{}-{}.yml",
        std::process::id(),
        file_text.len()
    ));
    std::fs::write(&file, file_text).unwrap();
    let out = rules(&["--objectives", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{file_text}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_objective_files_are_refused_saying_where_and_why() {
    let e = refused(
        "objectives:\n  - name: a\n    sli: latency\n    target: 0.99\n    operation: x\n    thresold: 1s\n",
    );
    assert!(e.contains(":6:") && e.contains("thresold"), "{e}");
    let e =
        refused("objectives:\n  - name: a\n    sli: latency\n    target: 0.99\n    operation: x\n");
    assert!(
        e.contains("objective 1 (\"a\")") && e.contains("needs a threshold"),
        "{e}"
    );
    let e = refused(
        "objectives:\n  - name: a\n    sli: availability\n    target: 90%\n    operation: x\n",
    );
    assert!(
        e.contains("could never fire") && e.contains("93.06 %"),
        "{e}"
    );
    let e = refused(
        "objectives:\n  - name: a\n    sli: availability\n    target: 1.5\n    operation: x\n",
    );
    assert!(e.contains("bad target"), "{e}");
    let e = refused("objectives:\n  - name: a\n    sli: availability\n    target: 0.99\n");
    assert!(e.contains("which calls it judges"), "{e}");
    let e = refused(
        "objectives:\n  - name: a\n    sli: availability\n    target: 0.99\n    operation: x\n  - name: a\n    sli: availability\n    target: 0.99\n    operation: y\n",
    );
    assert!(e.contains("declared twice"), "{e}");
    let e = refused(
        "objectives:\n  - name: a b\n    sli: availability\n    target: 0.99\n    operation: x\n",
    );
    assert!(e.contains("bad name"), "{e}");
    let e = refused(
        "objectives:\n  - name: a\n    sli: latency\n    threshold: 300\n    target: 0.99\n    operation: x\n",
    );
    assert!(e.contains("no unit"), "{e}");
}
