//! Support for the black-box suite: start yimen in either deployment mode — standalone in
//! this process, or distributed as separate `yimen serve` processes on PostgreSQL and
//! RabbitMQ — and talk to it over gRPC like any outside system would.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

pub use yimen::client::{ClientTls, Clients, Urls, eventually};
use yimen::run::{Running, Target};
use yimen::settings::Settings;
use yimen_proto::v1::*;
use yimen_testkit::broker::TestBroker;
use yimen_testkit::stores::TestDatabase;

/// Connects to every service, retrying while they start (bounded), then waits until each
/// answers SERVING on its readiness check.
pub async fn connect(urls: Urls) -> anyhow::Result<Clients> {
    let clients = yimen::run::wait_for("the services", Duration::from_secs(60), || {
        Clients::connect(&urls)
    })
    .await?;
    for target in Target::ALL {
        wait_ready(target, urls.of(target), &urls.tls).await?;
    }
    Ok(clients)
}

/// Waits until the readiness health check of `target` at `url` answers SERVING.
pub async fn wait_ready(target: Target, url: &str, tls: &ClientTls) -> anyhow::Result<()> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let health = HealthClient::new(yimen::client::channel(target.name(), url, tls).await?);
    let what = format!("{} ready", target.name());
    eventually(&what, Duration::from_secs(60), || {
        let mut health = health.clone();
        async move {
            let status = health
                .check(HealthCheckRequest {
                    service: yimen_platform::server::READINESS.into(),
                })
                .await
                .map(|r| r.into_inner().status());
            Ok(matches!(status, Ok(ServingStatus::Serving)).then_some(()))
        }
    })
    .await
}

/// The departments of `deploy/departments.toml`.
pub fn seed() -> Vec<JoinDepartmentRequest> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/departments.toml");
    let text = std::fs::read_to_string(&path).expect("read deploy/departments.toml");
    yimen_dispatch::parse_seed(&text).expect("parse the department seed")
}

/// yimen standalone, in this process: SQLite in a fresh directory, the in-process bus.
pub struct Standalone {
    pub clients: Clients,
    /// The key its tokens are signed with.
    pub signing_key: PathBuf,
    /// Its settings as it runs: its data directory, stores and data key file.
    pub settings: Settings,
    running: Option<Running>,
    /// The data directory, removed when the installation is dropped, pass or fail.
    _data: tempfile::TempDir,
}

impl Standalone {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}, ClientTls::default()).await
    }

    /// Started with `tweak` applied to its settings; when they serve TLS, its clients call
    /// over `https://` presenting `tls`.
    pub async fn start_with(
        tweak: impl FnOnce(&mut Settings),
        tls: ClientTls,
    ) -> anyhow::Result<Self> {
        let mut settings = Settings::default().on_free_loopback_ports();
        let data = yimen_testkit::stores::temp_dir("yimen-e2e-");
        settings.standalone.data_dir = data.path().to_path_buf();
        settings.server.shutdown_grace_secs = 2;
        let mut settings = settings.into_standalone();
        settings.dispatch.seed = seed();
        tweak(&mut settings);
        let token = yimen::auth::prepare_standalone(&mut settings)?;
        let bus = yimen_platform::bus::connect(&settings.bus).await?;
        let running = yimen::run::start(&settings, &Target::ALL, bus).await?;
        let scheme = match settings.server.tls.cert_file {
            Some(_) => "https",
            None => "http",
        };
        let urls = Urls::from_fn(|t| format!("{scheme}://{}", running.addrs[&t]))
            .with_token(token)
            .with_tls(tls);
        let clients = connect(urls).await?;
        Ok(Self {
            clients,
            signing_key: yimen::auth::signing_key_file(&settings),
            settings,
            running: Some(running),
            _data: data,
        })
    }

    /// Where its SQLite files are (`<service>.db`).
    pub fn data_dir(&self) -> &std::path::Path {
        self._data.path()
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

/// An administrator's token signed with the key at `signing_key`, as `yimen token issue` makes
/// one.
pub fn admin_token(signing_key: &std::path::Path) -> String {
    token_for(
        signing_key,
        yimen_platform::auth::Principal {
            subject: "e2e".into(),
            role: yimen_platform::auth::Role::Admin,
            department: None,
            committee: None,
        },
    )
}

/// A token for `principal`, signed with the key at `signing_key`, valid for an hour.
pub fn token_for(
    signing_key: &std::path::Path,
    principal: yimen_platform::auth::Principal,
) -> String {
    let config = yimen_platform::auth::AuthConfig::default();
    yimen_platform::auth::Signer::from_file(signing_key, &config)
        .and_then(|signer| signer.issue(&principal, Duration::from_secs(3600)))
        .expect("sign a test token")
}

/// The `yimen` binary next to this test executable (built by `make test`), or `YIMEN_BIN`.
pub fn yimen_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("YIMEN_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("yimen"))
        .expect("target dir");
    assert!(
        bin.exists(),
        "{} is missing: build it first (`cargo build --bin yimen`; `make test` does)",
        bin.display()
    );
    bin
}

/// `yimen healthcheck --target <target> --probe <probe> --addr <url>`, its output discarded;
/// the caller adds any TLS flags and runs it.
pub fn healthcheck(target: Target, url: &str, probe: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(yimen_bin());
    command
        .args(["healthcheck", "--target", target.name(), "--probe", probe])
        .args(["--addr", url])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// A port of 127.0.0.1 free now, for a child process to listen on. Drawn from below the
/// kernel's ephemeral range (32768 and up), where the outgoing connections of concurrent tests
/// take their ports, so none takes it before the child binds; and never a port of the
/// machine's own services.
///
/// A port is free until its child binds it, so a draw that is still free could come again:
/// the ports handed out are remembered and never given twice in one test process.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    const FIRST: u16 = 20_000;
    const SPAN: u64 = 12_000;
    const TAKEN: [u16; 1] = [25_672]; // RabbitMQ's distribution port
    static GIVEN: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
    for attempt in 0u64.. {
        let draw = RandomState::new().hash_one(attempt) % SPAN;
        let port = FIRST + draw as u16;
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !TAKEN.contains(&port)
            && !given.contains(&port)
            && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
        {
            given.insert(port);
            return port;
        }
        assert!(attempt < 1_000, "no free port below the ephemeral range");
    }
    unreachable!()
}

/// A fresh name prefix on the test broker that knows every queue a yimen installation
/// declares (each service's, and each seed department's), so all of them are deleted when
/// the test ends.
pub fn installation_broker() -> TestBroker {
    let broker = TestBroker::new();
    broker.expect_queues(Target::ALL.iter().map(|t| t.queue().name));
    broker.expect_queues(
        seed()
            .iter()
            .map(|d| yimen_platform::bus::QueueSpec::department(&d.code).name),
    );
    broker
}

/// `yimen standalone` as its own process, started in a fresh directory (no deploy/ beside it:
/// the departments built into the binary are joined), every service on a free port of
/// 127.0.0.1; killed when dropped.
pub struct StandaloneProcess {
    pub clients: Clients,
    child: tokio::process::Child,
    _cwd: tempfile::TempDir,
}

impl StandaloneProcess {
    /// Started with the extra `YIMEN__...` variables `env` (its metrics endpoint is off unless
    /// they set `YIMEN__TELEMETRY__METRICS_LISTEN`); answers once every service is ready.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let cwd = yimen_testkit::stores::temp_dir("yimen-alone-");
        let ports: BTreeMap<Target, u16> = Target::ALL.iter().map(|&t| (t, free_port())).collect();
        let mut command = tokio::process::Command::new(yimen_bin());
        command
            .arg("standalone")
            .current_dir(cwd.path())
            .env("YIMEN__TELEMETRY__LOG_LEVEL", "warn")
            .env("YIMEN__TELEMETRY__METRICS_LISTEN", "")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        for (target, port) in &ports {
            command.env(
                format!("YIMEN__{}__LISTEN", target.name().to_ascii_uppercase()),
                format!("127.0.0.1:{port}"),
            );
        }
        command.envs(env.iter().copied());
        let child = command.spawn().expect("start yimen standalone");
        let token_file = cwd.path().join("data/operator.token");
        let token = until("standalone writes its operator token", || async {
            std::fs::read_to_string(&token_file)
                .ok()
                .filter(|t| !t.trim().is_empty())
        })
        .await;
        let urls =
            Urls::from_fn(|t| format!("http://127.0.0.1:{}", ports[&t])).with_token(token.trim());
        let clients = connect(urls).await.expect("standalone answers");
        Self {
            clients,
            child,
            _cwd: cwd,
        }
    }

    /// Kills the process and waits for it (bounded).
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// The five services as five `yimen serve` processes on a fresh PostgreSQL database and a
/// fresh RabbitMQ name prefix. None (skip) when PostgreSQL is unreachable outside CI. The
/// processes, the database and everything under the prefix are gone once it is dropped.
pub struct Distributed {
    pub clients: Clients,
    /// The key its tokens are signed with.
    pub signing_key: PathBuf,
    pub env: BTreeMap<String, String>,
    /// The broker and name prefix the processes use.
    pub bus: yimen_platform::bus::BusConfig,
    /// Each process's metrics endpoint (`host:port`; `GET /metrics`).
    pub metrics: BTreeMap<Target, String>,
    // Fields drop in this order: the processes end before their database and names go.
    children: Processes<Target>,
    _broker: TestBroker,
    _database: TestDatabase,
    /// The installation's signing key, JWKS and data key file.
    _keys: tempfile::TempDir,
}

/// `yimen` processes, each with a name, killed (and waited for, bounded) when dropped: a test
/// that fails before [`Processes::stop`] must not leave them running, nor let them declare
/// anything after cleanup.
pub struct Processes<N>(pub Vec<(N, tokio::process::Child)>);

impl Processes<Target> {
    /// Each process's state and the end of its log (`<dir>/<target>.log`): why it is not ready.
    pub fn tell(&mut self, dir: &std::path::Path) -> String {
        let mut told = String::new();
        for (target, child) in &mut self.0 {
            let state = match child.try_wait() {
                Ok(Some(status)) => format!("exited ({status})"),
                _ => "running".to_string(),
            };
            let log = std::fs::read_to_string(dir.join(format!("{}.log", target.name())))
                .unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(10)..].join("\n    ");
            told.push_str(&format!("  {}: {state}\n    {tail}\n", target.name()));
        }
        told
    }
}

impl<N> Processes<N> {
    /// Stops the processes with SIGTERM (graceful), waiting for them to exit (bounded).
    pub async fn stop(&mut self) {
        for (_, child) in &mut self.0 {
            if let Some(pid) = child.id() {
                // SAFETY-free: `kill` the command, not libc, to send SIGTERM.
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
        }
        for (_, child) in &mut self.0 {
            let _ = tokio::time::timeout(Duration::from_secs(15), child.wait()).await;
        }
    }
}

impl<N> Drop for Processes<N> {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.start_kill();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        for (_, child) in &mut self.0 {
            while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Distributed {
    pub async fn start() -> Option<Self> {
        Self::start_with(BTreeMap::new()).await
    }

    /// Starts with extra `YIMEN__...` variables (e.g. an OTLP endpoint).
    pub async fn start_with(extra: BTreeMap<String, String>) -> Option<Self> {
        let database = yimen_testkit::stores::fresh_postgres_database().await?;
        let broker = installation_broker();
        if !broker.reachable().await {
            return None;
        }
        let bus = broker.config().clone();
        let ports: BTreeMap<Target, u16> = Target::ALL.iter().map(|&t| (t, free_port())).collect();
        let keys = yimen_testkit::stores::temp_dir("yimen-keys-");
        let key_files = yimen_platform::auth::generate_keys(keys.path()).expect("make keys");
        let token = admin_token(&key_files.signing_key);
        let data_keys = keys.path().join("data.json");
        yimen::keys::init(&data_keys, Default::default()).expect("make data keys");
        let mut env: BTreeMap<String, String> = [
            (
                "YIMEN__AUTH__VERIFY_KEYS_FILE",
                key_files.jwks.display().to_string(),
            ),
            (
                "YIMEN__SECURITY__DATA_KEY_FILE",
                data_keys.display().to_string(),
            ),
            ("YIMEN__DATABASE__URL", database.url().to_string()),
            ("YIMEN__BUS__URL", bus.url.clone()),
            ("YIMEN__BUS__PREFIX", bus.prefix.clone()),
            ("YIMEN__BUS__DELIVERY_LIMIT", bus.delivery_limit.to_string()),
            (
                "YIMEN__BUS__QUEUE_EXPIRES_SECS",
                yimen_testkit::broker::TEST_QUEUE_EXPIRY_SECS.to_string(),
            ),
            ("YIMEN__TELEMETRY__LOG_LEVEL", "warn".into()),
            ("YIMEN__SERVER__SHUTDOWN_GRACE_SECS", "2".into()),
            // Quorum queues are heavy for a shared test broker: only the test of department
            // queues turns them on.
            ("YIMEN__DISPATCH__DEPARTMENT_QUEUES", "false".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (target, port) in &ports {
            env.insert(
                format!("YIMEN__{}__LISTEN", target.name().to_ascii_uppercase()),
                format!("127.0.0.1:{port}"),
            );
        }
        env.extend(extra);
        // Each process its own scrape endpoint, as each pod has.
        let metrics: BTreeMap<Target, String> = Target::ALL
            .iter()
            .map(|&t| (t, format!("127.0.0.1:{}", free_port())))
            .collect();
        let mut children = Processes(Vec::new());
        for &target in ports.keys() {
            // Each process's log lines (stdout) and errors (stderr), for tests that read them.
            let log = std::fs::File::create(keys.path().join(format!("{}.log", target.name())))
                .expect("a log file");
            let child = tokio::process::Command::new(yimen_bin())
                .args(["serve", "--target", target.name()])
                .envs(&env)
                .env("YIMEN__TELEMETRY__METRICS_LISTEN", &metrics[&target])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("a log file"))
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .expect("spawn yimen serve");
            children.0.push((target, child));
        }
        let urls = Urls::from_fn(|t| format!("http://127.0.0.1:{}", ports[&t])).with_token(token);
        let clients = match connect(urls).await {
            Ok(clients) => clients,
            Err(e) => panic!(
                "the yimen processes answer and are ready: {e:#}\n{}",
                children.tell(keys.path())
            ),
        };
        let mut dispatch = clients.dispatch.clone();
        for department in seed() {
            dispatch
                .join_department(department)
                .await
                .expect("join a seed department");
        }
        Some(Self {
            clients,
            signing_key: key_files.signing_key.clone(),
            env,
            bus,
            metrics,
            children,
            _broker: broker,
            _database: database,
            _keys: keys,
        })
    }

    /// The PostgreSQL database the services keep their schemas in.
    pub fn database_url(&self) -> &str {
        self._database.url()
    }

    /// The settings the processes run with, as a CLI command given the same environment
    /// (`yimen keys rotate`, say) reads them.
    pub fn settings(&self) -> Settings {
        yimen_platform::config::load_from(None, self.env.clone()).expect("the processes' settings")
    }

    /// Everything the processes wrote to stdout and stderr so far (their logs).
    pub fn logs(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for (target, _) in &self.children.0 {
            let file = self._keys.path().join(format!("{}.log", target.name()));
            all.extend(std::fs::read(file).unwrap_or_default());
        }
        all
    }

    /// Stops the processes with SIGTERM (graceful), waiting for them to exit.
    pub async fn stop(mut self) {
        self.children.stop().await;
    }
}

/// Polls `GetCase` until `pred` holds (bounded), answering the last case seen: the caller's
/// assertion then says what it is instead.
pub async fn wait_for_case(
    clients: &Clients,
    case_ref: &str,
    pred: impl Fn(&Case) -> bool,
) -> Case {
    let get = || async {
        clients
            .intake
            .clone()
            .get_case(GetCaseRequest {
                case_ref: case_ref.to_string(),
                after_position: 0,
            })
            .await
            .map(|r| r.into_inner())
    };
    let wanted = eventually("the case as wanted", Duration::from_secs(30), || async {
        Ok(Some(get().await?).filter(|c| pred(c)))
    })
    .await;
    match wanted {
        Ok(case) => case,
        Err(_) => get().await.expect("get case"),
    }
}

/// Polls `probe` (bounded) until it answers Some; the test fails naming `what` otherwise.
pub async fn until<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let probe = || {
        let answer = probe();
        async move { Ok(answer.await) }
    };
    eventually(what, Duration::from_secs(30), probe)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A valid submission in `category` at `town`.
pub fn submission(category: Category, town: &str, subject: &str) -> SubmitCaseRequest {
    SubmitCaseRequest {
        channel: yimen_proto::v1::Channel::Visit as i32,
        headcount: 1,
        petitioners: vec![Person {
            name: "王某".into(),
            id_number: "11010519491231002X".into(),
            phone: "13800000000".into(),
        }],
        subject: subject.into(),
        description: "details of the matter".into(),
        category: category as i32,
        location: Some(Location {
            town: town.into(),
            village: String::new(),
        }),
        amount_claimed: None,
        request_id: String::new(),
        ..Default::default()
    }
}
