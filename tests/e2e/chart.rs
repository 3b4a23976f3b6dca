//! The rendered chart runs: the production profile (helm/yimen/ci/production.yaml) rendered with
//! Helm's own library, and its workloads started as local processes against the machine's
//! PostgreSQL (a fresh database) and RabbitMQ (a fresh name prefix), so the chart's commands,
//! arguments, variables, Secrets and mounted files are proven, not only its YAML.
//!
//! deploy/helm/local_run.py turns the rendered objects into processes (see its doc): the
//! Secrets' and ConfigMaps' values resolved, mounted files written under a temp dir and the
//! paths rewritten. Only what a laptop cannot be is overridden, as `--set` would: the database
//! and broker URLs and the bus prefix (the test's own), the ports (free ones: the five processes
//! share one host), the keys (made here) and the OTLP endpoint (no collector here).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use yimen::run::Target;
use yimen_e2e::{Processes, free_port, installation_broker, yimen_bin};

/// How long the processes may take to become ready on a loaded machine; past it the test fails
/// with their logs (a bound, not a measurement).
const PATIENCE: Duration = Duration::from_secs(120);

/// One container of the chart as a local process.
struct Process {
    name: String,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    /// Its readiness probe as a command (Deployments).
    readiness: Vec<String>,
}

impl Process {
    fn from_json(value: &Value) -> Self {
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .map(|s| s.as_str().expect("a string").to_string())
                .collect()
        };
        Self {
            name: value["name"].as_str().expect("a name").to_string(),
            args: strings(&value["args"]),
            env: value["env"]
                .as_object()
                .expect("an env")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("a string").to_string()))
                .collect(),
            readiness: strings(&value["readiness"]),
        }
    }
}

struct Plan {
    jobs: Vec<Process>,
    deployments: Vec<Process>,
    tests: Vec<Process>,
}

/// The chart rendered with `values_file` and `set` over it, as processes rooted at `root`.
fn plan(values_file: &str, set: Value, root: &Path) -> Plan {
    let request = json!({
        "values_file": values_file,
        "set": set,
        "root": root,
        "binary": yimen_bin(),
    });
    let mut python = std::process::Command::new(yimen_testkit::python())
        .arg(yimen_testkit::repo_root().join("deploy/helm/local_run.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs deploy/helm/local_run.py");
    python
        .stdin
        .take()
        .expect("its stdin")
        .write_all(request.to_string().as_bytes())
        .expect("the request written");
    let out = python.wait_with_output().expect("local_run.py ends");
    assert!(
        out.status.success(),
        "the chart did not render into processes: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: Value = serde_json::from_slice(&out.stdout).expect("local_run.py wrote a plan");
    let processes = |key: &str| -> Vec<Process> {
        plan[key]
            .as_array()
            .expect("a list of processes")
            .iter()
            .map(Process::from_json)
            .collect()
    };
    Plan {
        jobs: processes("jobs"),
        deployments: processes("deployments"),
        tests: processes("tests"),
    }
}

fn command(process: &Process, argv: &[String]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(&process.env)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

fn logs(dir: &Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            all += &format!("--- {}\n{text}\n", entry.path().display());
        }
    }
    all
}

/// The status line of `GET /metrics` on a local port.
async fn scrape_status(port: u16) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    Ok(text.lines().next().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_production_chart_runs_its_probes_pass_and_its_helm_tests_pass() {
    let Some(database) = yimen_testkit::stores::fresh_postgres_database().await else {
        return;
    };
    let broker = installation_broker();
    if !broker.reachable().await {
        return;
    }
    let dir = yimen_testkit::stores::temp_dir("yimen-chart-");
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).expect("a keys directory");
    let key_files = yimen_platform::auth::generate_keys(&keys).expect("make token keys");
    let data_keys = keys.join("data.json");
    yimen::keys::init(&data_keys, Default::default()).expect("make data keys");
    let read = |path: &Path| std::fs::read_to_string(path).expect("read a key file");

    let mut services = serde_json::Map::new();
    let mut metrics_ports = BTreeMap::new();
    for target in Target::ALL {
        let metrics = free_port();
        metrics_ports.insert(target.name(), metrics);
        services.insert(
            target.name().into(),
            json!({"port": free_port(), "metricsPort": metrics}),
        );
    }
    let set = json!({
        "secret": {"databaseUrl": database.url(), "busUrl": broker.config().url},
        "auth": {"jwks": read(&key_files.jwks)},
        "security": {"dataKeys": read(&data_keys)},
        "services": services,
        "config": {
            "bus": {"prefix": broker.config().prefix},
            "telemetry": {"otlp_endpoint": ""},
            "server": {"shutdown_grace_secs": 2},
            // Quorum queues per department are heavy for a shared test broker.
            "dispatch": {"department_queues": false},
        },
    });
    let root = dir.path().join("root");
    let plan = plan("ci/production.yaml", set, &root);
    let names = |ps: &[Process]| ps.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&plan.deployments),
        Target::ALL
            .iter()
            .map(|t| format!("yimen-{}", t.name()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>(),
        "one Deployment per service"
    );
    assert_eq!(names(&plan.jobs), ["yimen-migrate"]);
    assert_eq!(
        plan.tests.len(),
        Target::ALL.len(),
        "a helm test Pod per service"
    );

    // The migration Job first, as the pre-install hook runs before any pod.
    for job in &plan.jobs {
        let out = tokio::time::timeout(PATIENCE, command(job, &job.args).output())
            .await
            .unwrap_or_else(|_| panic!("{} did not end", job.name))
            .expect("the Job's command starts");
        assert!(
            out.status.success(),
            "{} failed: {}{}",
            job.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let mut children = Processes(Vec::new());
    for deployment in &plan.deployments {
        let log = std::fs::File::create(dir.path().join(format!("{}.log", deployment.name)))
            .expect("a log file");
        let child = command(deployment, &deployment.args)
            .stdout(log.try_clone().expect("a log file"))
            .stderr(log)
            .spawn()
            .expect("the Deployment's command starts");
        children.0.push((deployment.name.clone(), child));
    }

    // Every readiness probe passes (the probe's own command, or a gRPC probe's equivalent); a
    // process that exits first fails the test at once, with the logs.
    let deadline = std::time::Instant::now() + PATIENCE;
    for (deployment, (_, child)) in plan.deployments.iter().zip(&mut children.0) {
        assert!(
            !deployment.readiness.is_empty(),
            "{} has no readiness probe",
            deployment.name
        );
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{} exited ({status}) before it was ready\n{}",
                    deployment.name,
                    logs(dir.path())
                );
            }
            let ready = command(deployment, &deployment.readiness)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .is_ok_and(|s| s.success());
            if ready {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} not ready after {PATIENCE:?}\n{}",
                deployment.name,
                logs(dir.path())
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    // `helm test`: each Pod's healthcheck, at the local address of the Service it names.
    for test in &plan.tests {
        let out = tokio::time::timeout(PATIENCE, command(test, &test.args).output())
            .await
            .unwrap_or_else(|_| panic!("{} did not end", test.name))
            .expect("the test Pod's command starts");
        assert!(
            out.status.success(),
            "{} failed: {}{}\n{}",
            test.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            logs(dir.path())
        );
    }

    // Each process serves its metrics on the port the chart gave it (its Service's `metrics`).
    for (service, port) in &metrics_ports {
        let status = scrape_status(*port).await;
        assert!(
            matches!(&status, Ok(line) if line.contains(" 200")),
            "{service}: GET :{port}/metrics answered {status:?}\n{}",
            logs(dir.path())
        );
    }

    // Then the processes end (gracefully), before their database and names are removed.
    children.stop().await;
}
