//! Support for the black-box suite: start yimen in either deployment mode — standalone in
//! this process, or distributed as separate `yimen serve` processes on PostgreSQL and
//! RabbitMQ — and talk to it over gRPC like any outside system would.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tonic::transport::Channel;
use yimen::client::Traced;
use yimen::run::{Running, Target};
use yimen::settings::Settings;
use yimen_platform::telemetry::TraceContextInterceptor;
use yimen_proto::v1::dispatch_service_client::DispatchServiceClient;
use yimen_proto::v1::intake_service_client::IntakeServiceClient;
use yimen_proto::v1::*;

/// gRPC clients of a running installation.
#[derive(Clone)]
pub struct Clients {
    pub intake: IntakeServiceClient<Traced>,
    pub dispatch: DispatchServiceClient<Traced>,
    pub intake_channel: Channel,
    pub dispatch_channel: Channel,
}

impl Clients {
    async fn connect(intake: &str, dispatch: &str) -> anyhow::Result<Self> {
        let intake_channel = connect_retrying(intake).await?;
        let dispatch_channel = connect_retrying(dispatch).await?;
        Ok(Self {
            intake: IntakeServiceClient::with_interceptor(
                intake_channel.clone(),
                TraceContextInterceptor,
            ),
            dispatch: DispatchServiceClient::with_interceptor(
                dispatch_channel.clone(),
                TraceContextInterceptor,
            ),
            intake_channel,
            dispatch_channel,
        })
    }
}

async fn connect_retrying(url: &str) -> anyhow::Result<Channel> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match Channel::from_shared(url.to_string())?.connect().await {
            Ok(c) => return Ok(c),
            Err(e) if tokio::time::Instant::now() > deadline => {
                anyhow::bail!("cannot reach {url}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Waits until the readiness health check of `channel` answers SERVING.
pub async fn wait_ready(channel: Channel) -> anyhow::Result<()> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let mut health = HealthClient::new(channel);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status = health
            .check(HealthCheckRequest {
                service: yimen_platform::server::READINESS.into(),
            })
            .await
            .map(|r| r.into_inner().status());
        if matches!(status, Ok(ServingStatus::Serving)) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("never ready: {status:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    running: Option<Running>,
}

impl Standalone {
    pub async fn start() -> anyhow::Result<Self> {
        let mut settings = Settings::default();
        settings.standalone.data_dir =
            std::env::temp_dir().join(format!("yimen-e2e-{}", uuid::Uuid::new_v4().simple()));
        settings.intake.listen = "127.0.0.1:0".into();
        settings.dispatch.listen = "127.0.0.1:0".into();
        settings.server.shutdown_grace_secs = 2;
        let settings = settings.into_standalone();
        let bus = yimen_platform::bus::connect(&settings.bus).await?;
        let running = yimen::run::start(&settings, &Target::ALL, bus, &seed()).await?;
        let url = |t: Target| format!("http://{}", running.addrs[&t]);
        let clients = Clients::connect(&url(Target::Intake), &url(Target::Dispatch)).await?;
        wait_ready(clients.intake_channel.clone()).await?;
        wait_ready(clients.dispatch_channel.clone()).await?;
        Ok(Self {
            clients,
            running: Some(running),
        })
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// intake and dispatch as two `yimen serve` processes on a fresh PostgreSQL database and a
/// fresh RabbitMQ name prefix. None (skip) when PostgreSQL is unreachable outside CI.
pub struct Distributed {
    pub clients: Clients,
    pub env: BTreeMap<String, String>,
    /// The broker and name prefix the processes use.
    pub bus: yimen_platform::bus::BusConfig,
    children: Vec<(Target, tokio::process::Child)>,
}

impl Distributed {
    pub async fn start() -> Option<Self> {
        Self::start_with(BTreeMap::new()).await
    }

    /// Starts with extra `YIMEN__...` variables (e.g. an OTLP endpoint).
    pub async fn start_with(extra: BTreeMap<String, String>) -> Option<Self> {
        let database = yimen_platform::testing::stores::fresh_postgres_database().await?;
        let bus = yimen_platform::testing::stores::amqp_bus_config();
        match yimen_platform::bus::connect(&bus).await {
            Ok(probe) => probe.close().await,
            Err(e) => {
                yimen_platform::testing::stores::unavailable("RabbitMQ", &e.to_string());
                return None;
            }
        }
        let ports = [
            (Target::Intake, free_port()),
            (Target::Dispatch, free_port()),
        ];
        let mut env: BTreeMap<String, String> = [
            ("YIMEN__DATABASE__URL", database),
            ("YIMEN__BUS__URL", bus.url.clone()),
            ("YIMEN__BUS__PREFIX", bus.prefix.clone()),
            ("YIMEN__BUS__DELIVERY_LIMIT", bus.delivery_limit.to_string()),
            (
                "YIMEN__BUS__QUEUE_EXPIRES_SECS",
                yimen_platform::testing::stores::TEST_QUEUE_EXPIRY_SECS.to_string(),
            ),
            ("YIMEN__INTAKE__LISTEN", format!("127.0.0.1:{}", ports[0].1)),
            (
                "YIMEN__DISPATCH__LISTEN",
                format!("127.0.0.1:{}", ports[1].1),
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
        env.extend(extra);
        let mut children = Vec::new();
        for (target, _) in ports {
            let child = tokio::process::Command::new(yimen_bin())
                .args(["serve", "--target", target.name()])
                .envs(&env)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("spawn yimen serve");
            children.push((target, child));
        }
        let clients = Clients::connect(
            &format!("http://127.0.0.1:{}", ports[0].1),
            &format!("http://127.0.0.1:{}", ports[1].1),
        )
        .await
        .expect("connect to the yimen processes");
        wait_ready(clients.intake_channel.clone())
            .await
            .expect("intake ready");
        wait_ready(clients.dispatch_channel.clone())
            .await
            .expect("dispatch ready");
        let mut dispatch = clients.dispatch.clone();
        for department in seed() {
            dispatch
                .join_department(department)
                .await
                .expect("join a seed department");
        }
        Some(Self {
            clients,
            env,
            bus,
            children,
        })
    }

    /// Stops the processes with SIGTERM (graceful), waiting for them to exit.
    pub async fn stop(mut self) {
        for (_, child) in &mut self.children {
            if let Some(pid) = child.id() {
                // SAFETY-free: `kill` the command, not libc, to send SIGTERM.
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
        }
        for (_, child) in &mut self.children {
            let _ = tokio::time::timeout(Duration::from_secs(15), child.wait()).await;
        }
    }
}

/// Polls `GetCase` until `pred` holds (bounded), answering the last case seen.
pub async fn wait_for_case(
    clients: &Clients,
    case_ref: &str,
    pred: impl Fn(&Case) -> bool,
) -> Case {
    let mut intake = clients.intake.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let case = intake
            .get_case(GetCaseRequest {
                case_ref: case_ref.to_string(),
            })
            .await
            .expect("get case")
            .into_inner();
        if pred(&case) || tokio::time::Instant::now() > deadline {
            return case;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
    }
}
