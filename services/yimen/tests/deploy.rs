//! The SRE's desk in `deploy/`: the alert rules (`promtool check rules` and the rules' unit tests),
//! the Grafana dashboard, the datasources and the OpenTelemetry Collector config, checked by
//! `deploy/check.py` (see its doc). `make test` unpacks promtool into `.tools/` first.

use std::process::Command;

#[test]
fn the_dashboard_rules_and_collector_config_pass_their_checks() {
    let out = Command::new(yimen_testkit::python())
        .arg(yimen_testkit::repo_root().join("deploy/check.py"))
        .output()
        .expect("python runs deploy/check.py");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "deploy/check.py failed:\n{text}");
    assert!(
        text.contains(" 0 failed"),
        "deploy/check.py did not report its checks:\n{text}"
    );
}
