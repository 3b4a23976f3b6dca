//! `yimen`: run services (`serve`, `standalone`), prepare stores (`migrate`), probe health
//! (`healthcheck`), operate a running installation (`case`, `dept`, `assignment`,
//! `mediation`), read what the centers made of it (`situation`, `alerts`, `scorecard`), and
//! play the seed's seven scenarios (`demo`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use yimen::client::{self, CliError, print, request};
use yimen::run::Target;
use yimen::settings::Settings;
use yimen_proto::v1::*;

#[derive(Parser)]
#[command(
    name = "yimen",
    version,
    about = "一门 yimen: one door for every petition and dispute"
)]
struct Cli {
    /// TOML config file (layered over the defaults, under YIMEN__SECTION__KEY variables).
    #[arg(long, global = true, env = "YIMEN_CONFIG")]
    config: Option<PathBuf>,
    /// Print JSON for scripts (client commands).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the named services against PostgreSQL and RabbitMQ (as configured).
    Serve {
        /// Comma-separated: intake,dispatch,mediation,analysis,assessment
        #[arg(long, value_delimiter = ',', required = true)]
        target: Vec<Target>,
    },
    /// Run every service in one process on embedded storage and the in-process bus.
    Standalone {
        /// Where the SQLite files live (default: ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Department seed file joined on start (default: deploy/departments.toml); "" for none.
        #[arg(long)]
        seed: Option<String>,
        /// Once serving, play the seed's seven scenarios and show the three summaries.
        #[arg(long)]
        demo: bool,
    },
    /// Create or update the stores of the named services (and, on RabbitMQ, declare their
    /// queues), then exit.
    Migrate {
        #[arg(long, value_delimiter = ',', default_values_t = Target::ALL.to_vec(), value_enum)]
        target: Vec<Target>,
    },
    /// Exit 0 only when the service answers SERVING on its readiness health check.
    Healthcheck {
        #[arg(long)]
        target: Target,
        /// Address to probe (default: http://127.0.0.1:<the service's port>).
        #[arg(long)]
        addr: Option<String>,
    },
    /// Cases at the one door.
    Case {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: CaseCommand,
    },
    /// The department registry.
    Dept {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: DeptCommand,
    },
    /// A department's work: its assignments.
    Assignment {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: AssignmentCommand,
    },
    /// The mediation center: committees and mediation files.
    Mediation {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: MediationCommand,
    },
    /// The intelligence center's situation: cases, open, overdue, by category, town, department.
    Situation {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        period: PeriodArgs,
    },
    /// The intelligence center's alerts, newest first; `alerts ack ID` acknowledges one.
    Alerts {
        #[command(flatten)]
        conn: Conn,
        /// Include acknowledged alerts.
        #[arg(long)]
        all: bool,
        #[command(subcommand)]
        command: Option<AlertCommand>,
    },
    /// Every department's scorecard (or one's) for a period (default: this month).
    Scorecard {
        #[command(flatten)]
        conn: Conn,
        #[arg(long, default_value = "")]
        department: String,
        #[command(flatten)]
        period: PeriodArgs,
        /// Also list the negative-list entries of the period.
        #[arg(long)]
        negative: bool,
    },
    /// Play the seed's seven scenarios against a running installation, then show the summaries.
    Demo {
        #[command(flatten)]
        conn: Conn,
    },
    /// Measure a fresh standalone installation in this process (loopback only): SubmitCase
    /// latency and rate, and the time until every case is routed and counted.
    Bench {
        /// How many cases to submit (at most 100000).
        #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        cases: u32,
        /// How many callers submit at once (at most 256).
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=256))]
        concurrency: u32,
        /// Give up when the pipeline has not drained after this many seconds.
        #[arg(long, default_value_t = 300)]
        patience_secs: u64,
    },
}

#[derive(Args)]
struct PeriodArgs {
    /// From (2026-11-01 or RFC 3339), inclusive.
    #[arg(long)]
    from: Option<String>,
    /// To, exclusive.
    #[arg(long)]
    to: Option<String>,
}

impl PeriodArgs {
    /// None when neither end is given: the service's default period.
    fn period(&self) -> Result<Option<Period>, CliError> {
        if self.from.is_none() && self.to.is_none() {
            return Ok(None);
        }
        Ok(Some(Period {
            from: self.from.as_deref().map(client::parse_time).transpose()?,
            to: Some(match &self.to {
                Some(to) => client::parse_time(to)?,
                None => yimen_platform::time::timestamp(yimen_platform::db::now_millis()),
            }),
        }))
    }
}

#[derive(Subcommand)]
enum AlertCommand {
    /// Acknowledge an alert.
    Ack { id: String },
}

#[derive(Subcommand)]
enum MediationCommand {
    /// The eight committees and the categories each takes.
    Committees,
    /// Mediation files, newest first.
    List {
        /// Only this case's files (its UUID).
        #[arg(long, default_value = "")]
        case: String,
        #[arg(long, default_value = "")]
        committee: String,
    },
    /// One mediation file.
    Get { id: String },
    /// Register a mediator to a committee.
    Register {
        #[arg(long)]
        name: String,
        #[arg(long)]
        committee: String,
    },
}

#[derive(Args)]
struct Conn {
    /// Intake's address.
    #[arg(
        long,
        global = true,
        env = "YIMEN_INTAKE_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    intake: String,
    /// Dispatch's address.
    #[arg(
        long,
        global = true,
        env = "YIMEN_DISPATCH_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    dispatch: String,
    /// Mediation's address.
    #[arg(
        long,
        global = true,
        env = "YIMEN_MEDIATION_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    mediation: String,
    /// Analysis' address.
    #[arg(
        long,
        global = true,
        env = "YIMEN_ANALYSIS_URL",
        default_value = "http://127.0.0.1:50054"
    )]
    analysis: String,
    /// Assessment's address.
    #[arg(
        long,
        global = true,
        env = "YIMEN_ASSESSMENT_URL",
        default_value = "http://127.0.0.1:50055"
    )]
    assessment: String,
    #[arg(skip)]
    json: bool,
}

impl Conn {
    fn urls(&self) -> client::Urls {
        client::Urls {
            intake: self.intake.clone(),
            dispatch: self.dispatch.clone(),
            mediation: self.mediation.clone(),
            analysis: self.analysis.clone(),
            assessment: self.assessment.clone(),
        }
    }
}

#[derive(Subcommand)]
enum CaseCommand {
    /// Register a matter; prints its case number.
    Submit(Submit),
    /// Show a case's status and timeline (by number or id).
    Get { case: String },
    /// List cases, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        town: Option<String>,
        /// Registered on or after (2026-11-01 or RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Registered before.
        #[arg(long)]
        to: Option<String>,
        #[arg(long, default_value_t = 50)]
        page_size: u32,
        #[arg(long, default_value = "")]
        page_token: String,
    },
    /// The petitioner's evaluation of the reply: satisfied or basically-satisfied closes the
    /// case, unsatisfied reopens it.
    Evaluate {
        case: String,
        /// satisfied, basically-satisfied or unsatisfied
        #[arg(long)]
        satisfaction: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
}

#[derive(Args)]
struct Submit {
    /// visit, letter, phone, online, court-referral, government-referral
    #[arg(long)]
    channel: String,
    /// How many people came (5 or more: a collective petition).
    #[arg(long, default_value_t = 1)]
    headcount: u32,
    /// "Name[,ID number[,phone]]"; repeat for each (at most five representatives).
    #[arg(long = "petitioner", required = true)]
    petitioners: Vec<String>,
    #[arg(long)]
    subject: String,
    #[arg(long)]
    description: String,
    /// e.g. labour-wages, social-assistance, civil-commercial
    #[arg(long)]
    category: String,
    #[arg(long)]
    town: String,
    #[arg(long, default_value = "")]
    village: String,
    /// Amount claimed in yuan, e.g. 54000 or 1200.50.
    #[arg(long)]
    amount: Option<String>,
    /// Idempotency key: resubmitting with it returns the same case.
    #[arg(long, default_value = "")]
    request_id: String,
}

#[derive(Subcommand)]
enum DeptCommand {
    /// Register a department (or bring a departed one back).
    Join {
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        /// city, town or village
        #[arg(long, default_value = "city")]
        level: String,
        #[arg(long, default_value = "")]
        town: String,
        #[arg(long, default_value = "")]
        village: String,
        /// A category it owns; repeat for more.
        #[arg(long = "category")]
        categories: Vec<String>,
    },
    /// A department leaves; its open cases go to the new owner of their category.
    Leave {
        code: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// List departments.
    List {
        /// Include departments that left.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand)]
enum AssignmentCommand {
    /// A department's assignments, oldest first.
    List {
        #[arg(long)]
        dept: String,
        /// pending, accepted, replied, returned, handed-over; repeat for more.
        #[arg(long = "state")]
        states: Vec<String>,
    },
    /// Accept (受理) an assignment.
    Accept {
        id: String,
        #[arg(long, default_value = "")]
        handler: String,
    },
    /// Return an assignment as not this department's; it is routed elsewhere.
    Return {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Reply (答复) to an accepted assignment.
    Reply {
        id: String,
        #[arg(long)]
        reply: String,
    },
    /// Refer an accepted assignment's matter to the mediation center.
    Refer {
        id: String,
        /// petition, court, administrative or guidance
        #[arg(long, default_value = "petition")]
        linkage: String,
        #[arg(long, default_value = "")]
        summary: String,
    },
    /// Escalate: reminder (催办), supervision (督办) or leader (包案).
    Escalate {
        id: String,
        #[arg(long)]
        level: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch_command(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch_command(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { target } => {
            let settings = Settings::load(cli.config.as_deref())?;
            serve(settings, &target).await
        }
        Command::Standalone {
            data_dir,
            seed,
            demo,
        } => {
            let mut settings = Settings::load(cli.config.as_deref())?;
            if let Some(dir) = data_dir {
                settings.standalone.data_dir = dir;
            }
            if let Some(seed) = seed {
                settings.standalone.seed_departments = seed;
            }
            let mut settings = settings.into_standalone();
            settings.dispatch.seed = load_seed(&settings.standalone.seed_departments)?;
            serve_standalone(settings, demo).await
        }
        Command::Migrate { target } => {
            let settings = Settings::load(cli.config.as_deref())?;
            let _telemetry = yimen_platform::telemetry::init("yimen-migrate", &settings.telemetry)?;
            for (_, db) in yimen::run::migrate(&settings, &target).await? {
                db.close().await;
            }
            // A broker outlives the processes: its queues, declared before any service starts,
            // keep what one service publishes until another first comes up to read it.
            if settings.bus.url.starts_with("amqp") {
                let bus = yimen::run::wait_for("the broker", yimen::run::STARTUP_PATIENCE, || {
                    yimen_platform::bus::connect(&settings.bus)
                })
                .await?;
                yimen::run::declare_queues(&settings, bus.as_ref(), &target).await?;
                bus.close().await;
                tracing::info!("queues declared");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck { target, addr } => {
            let addr =
                addr.unwrap_or_else(|| format!("http://127.0.0.1:{}", target.default_port()));
            healthcheck(target, &addr).await
        }
        Command::Case { mut conn, command } => {
            conn.json = cli.json;
            operate(case(conn, command).await)
        }
        Command::Dept { mut conn, command } => {
            conn.json = cli.json;
            operate(dept(conn, command).await)
        }
        Command::Assignment { mut conn, command } => {
            conn.json = cli.json;
            operate(assignment(conn, command).await)
        }
        Command::Mediation { mut conn, command } => {
            conn.json = cli.json;
            operate(mediation(conn, command).await)
        }
        Command::Situation { mut conn, period } => {
            conn.json = cli.json;
            operate(situation(conn, period).await)
        }
        Command::Alerts {
            mut conn,
            all,
            command,
        } => {
            conn.json = cli.json;
            operate(alerts(conn, all, command).await)
        }
        Command::Scorecard {
            mut conn,
            department,
            period,
            negative,
        } => {
            conn.json = cli.json;
            operate(scorecard(conn, department, period, negative).await)
        }
        Command::Bench {
            cases,
            concurrency,
            patience_secs,
        } => {
            let mut settings = Settings::load(cli.config.as_deref())?;
            quiet_unless_asked(&mut settings);
            let _telemetry = yimen_platform::telemetry::init("yimen-bench", &settings.telemetry)?;
            settings.dispatch.seed = load_seed(&settings.standalone.seed_departments)?;
            let load = yimen::bench::Load {
                cases: cases as usize,
                concurrency: concurrency as usize,
                patience: std::time::Duration::from_secs(patience_secs),
            };
            let report = yimen::bench::run(settings, load, |l| eprintln!("{l}")).await?;
            print!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { conn } => {
            let clients = client::Clients::connect(&conn.urls()).await?;
            yimen::scenarios::demo(clients, |line| println!("{line}")).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Logs at `warn` when nobody asked for a level (neither the setting nor `RUST_LOG`): the demo's
/// journeys and the bench's figures are what those commands are for.
fn quiet_unless_asked(settings: &mut Settings) {
    let default_level = yimen_platform::telemetry::TelemetryConfig::default().log_level;
    if settings.telemetry.log_level == default_level && std::env::var_os("RUST_LOG").is_none() {
        settings.telemetry.log_level = "warn".into();
    }
}

/// The departments of the seed file at `path`; none for "".
fn load_seed(path: &str) -> anyhow::Result<Vec<JoinDepartmentRequest>> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read department seed {path}: {e}"))?;
    yimen_dispatch::parse_seed(&text).map_err(|e| anyhow::anyhow!("department seed {path}: {e:#}"))
}

async fn serve(settings: Settings, targets: &[Target]) -> anyhow::Result<ExitCode> {
    let (running, telemetry) = start(settings, targets).await?;
    running.wait().await;
    telemetry.shutdown();
    Ok(ExitCode::SUCCESS)
}

/// Standalone: every service; with `demo`, the seven scenarios played once it serves.
async fn serve_standalone(settings: Settings, demo: bool) -> anyhow::Result<ExitCode> {
    let mut settings = settings;
    if demo {
        quiet_unless_asked(&mut settings);
    }
    let (running, telemetry) = start(settings, &Target::ALL).await?;
    if demo {
        let urls = client::Urls::from_fn(|t| format!("http://{}", running.addrs[&t]));
        let played = async {
            let clients = client::Clients::connect(&urls).await?;
            yimen::scenarios::demo(clients, |line| println!("{line}")).await
        };
        match played.await {
            Ok(()) => println!(
                "\nyimen keeps serving (Ctrl-C to stop); try `yimen situation`, `yimen alerts`, `yimen scorecard`, `yimen case list`."
            ),
            Err(e) => eprintln!("error: the demo stopped: {e:#}"),
        }
    }
    running.wait().await;
    telemetry.shutdown();
    Ok(ExitCode::SUCCESS)
}

/// Starts `targets` on the configured bus, saying where each listens; signals stop them.
async fn start(
    settings: Settings,
    targets: &[Target],
) -> anyhow::Result<(
    yimen::run::Running,
    yimen_platform::telemetry::TelemetryGuard,
)> {
    let name = format!(
        "yimen-{}",
        targets
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join("-")
    );
    let telemetry = yimen_platform::telemetry::init(&name, &settings.telemetry)?;
    let bus: Arc<dyn yimen_platform::bus::Bus> =
        yimen::run::wait_for("the broker", yimen::run::STARTUP_PATIENCE, || {
            yimen_platform::bus::connect(&settings.bus)
        })
        .await?;
    let running = yimen::run::start(&settings, targets, bus).await?;
    for (target, addr) in &running.addrs {
        tracing::info!(service = target.name(), %addr, "listening");
        eprintln!("yimen: {} listening on {addr}", target.name());
    }
    yimen_platform::server::cancel_on_signal(running.shutdown_token());
    Ok((running, telemetry))
}

async fn healthcheck(target: Target, addr: &str) -> anyhow::Result<ExitCode> {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let channel = match client::channel(target.name(), addr).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: yimen_platform::server::READINESS.into(),
        })
        .await;
    match answer.map(|r| r.into_inner().status()) {
        Ok(tonic_health::pb::health_check_response::ServingStatus::Serving) => {
            println!("{}: SERVING", target.name());
            Ok(ExitCode::SUCCESS)
        }
        Ok(other) => {
            println!("{}: {}", target.name(), other.as_str_name());
            Ok(ExitCode::FAILURE)
        }
        Err(status) => {
            println!("{}: {}", target.name(), client::status_error(status));
            Ok(ExitCode::FAILURE)
        }
    }
}

fn operate(result: Result<(), CliError>) -> anyhow::Result<ExitCode> {
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

async fn case(conn: Conn, command: CaseCommand) -> Result<(), CliError> {
    let mut intake = client::intake(&conn.intake).await?;
    match command {
        CaseCommand::Submit(s) => {
            let response = intake
                .submit_case(request(SubmitCaseRequest {
                    channel: client::parse_channel(&s.channel)? as i32,
                    headcount: s.headcount,
                    petitioners: s
                        .petitioners
                        .iter()
                        .map(|p| client::parse_person(p))
                        .collect(),
                    subject: s.subject,
                    description: s.description,
                    category: client::parse_category(&s.category)? as i32,
                    location: Some(Location {
                        town: s.town,
                        village: s.village,
                    }),
                    amount_claimed: s.amount.as_deref().map(client::parse_yuan).transpose()?,
                    request_id: s.request_id,
                }))
                .await
                .map_err(client::status_error)?
                .into_inner();
            print(
                conn.json,
                serde_json::json!({"case_id": response.case_id, "case_number": response.case_number}),
                format!(
                    "registered {} ({})\n",
                    response.case_number, response.case_id
                ),
            );
        }
        CaseCommand::Get { case } => {
            let c = intake
                .get_case(request(GetCaseRequest { case_ref: case }))
                .await
                .map_err(client::status_error)?
                .into_inner();
            print(conn.json, client::case_json(&c), client::case_text(&c));
        }
        CaseCommand::List {
            status,
            category,
            town,
            from,
            to,
            page_size,
            page_token,
        } => {
            let r = intake
                .list_cases(request(ListCasesRequest {
                    status: status
                        .as_deref()
                        .map(client::parse_status)
                        .transpose()?
                        .map_or(0, |s| s as i32),
                    category: category
                        .as_deref()
                        .map(client::parse_category)
                        .transpose()?
                        .map_or(0, |c| c as i32),
                    town: town.unwrap_or_default(),
                    registered_from: from.as_deref().map(client::parse_time).transpose()?,
                    registered_to: to.as_deref().map(client::parse_time).transpose()?,
                    page: Some(PageRequest {
                        page_size,
                        page_token,
                    }),
                }))
                .await
                .map_err(client::status_error)?
                .into_inner();
            print(
                conn.json,
                client::case_list_json(&r),
                client::case_list_text(&r),
            );
        }
        CaseCommand::Evaluate {
            case,
            satisfaction,
            comment,
        } => {
            let c = intake
                .submit_evaluation(request(SubmitEvaluationRequest {
                    case_ref: case,
                    satisfaction: client::parse_satisfaction(&satisfaction)? as i32,
                    comment,
                }))
                .await
                .map_err(client::status_error)?
                .into_inner();
            print(conn.json, client::case_json(&c), client::case_text(&c));
        }
    }
    Ok(())
}

async fn dept(conn: Conn, command: DeptCommand) -> Result<(), CliError> {
    let mut dispatch = client::dispatch(&conn.dispatch).await?;
    match command {
        DeptCommand::Join {
            code,
            name,
            level,
            town,
            village,
            categories,
        } => {
            let categories = categories
                .iter()
                .map(|c| client::parse_category(c).map(|c| c as i32))
                .collect::<Result<Vec<_>, _>>()?;
            let d = dispatch
                .join_department(request(JoinDepartmentRequest {
                    code,
                    name,
                    level: client::parse_level(&level)? as i32,
                    area: Some(Location { town, village }),
                    categories,
                }))
                .await
                .map_err(client::status_error)?
                .into_inner();
            print(
                conn.json,
                client::department_json(&d),
                client::department_text(&d),
            );
        }
        DeptCommand::Leave { code, reason } => {
            let r = dispatch
                .leave_department(request(LeaveDepartmentRequest { code, reason }))
                .await
                .map_err(client::status_error)?
                .into_inner();
            let handovers: Vec<_> = r
                .handovers
                .iter()
                .map(|h| serde_json::json!({"case_id": h.case_id, "from": h.from_department, "to": h.to_department, "assignment_id": h.assignment_id}))
                .collect();
            let mut text = r
                .department
                .as_ref()
                .map(client::department_text)
                .unwrap_or_default();
            for h in &r.handovers {
                text.push_str(&format!("  case {} → {}\n", h.case_id, h.to_department));
            }
            print(
                conn.json,
                serde_json::json!({"department": r.department.as_ref().map(client::department_json), "handovers": handovers}),
                text,
            );
        }
        DeptCommand::List { all } => {
            let r = dispatch
                .list_departments(request(ListDepartmentsRequest {
                    include_inactive: all,
                }))
                .await
                .map_err(client::status_error)?
                .into_inner();
            print(
                conn.json,
                serde_json::json!(
                    r.departments
                        .iter()
                        .map(client::department_json)
                        .collect::<Vec<_>>()
                ),
                r.departments.iter().map(client::department_text).collect(),
            );
        }
    }
    Ok(())
}

async fn assignment(conn: Conn, command: AssignmentCommand) -> Result<(), CliError> {
    let mut dispatch = client::dispatch(&conn.dispatch).await?;
    let one = match command {
        AssignmentCommand::List { dept, states } => {
            let states = states
                .iter()
                .map(|s| client::parse_assignment_state(s).map(|s| s as i32))
                .collect::<Result<Vec<_>, _>>()?;
            let r = dispatch
                .list_assignments(request(ListAssignmentsRequest {
                    department: dept,
                    states,
                    page: None,
                }))
                .await
                .map_err(client::status_error)?
                .into_inner();
            print(
                conn.json,
                serde_json::json!(
                    r.assignments
                        .iter()
                        .map(client::assignment_json)
                        .collect::<Vec<_>>()
                ),
                r.assignments.iter().map(client::assignment_text).collect(),
            );
            return Ok(());
        }
        AssignmentCommand::Accept { id, handler } => dispatch
            .accept_assignment(request(AcceptAssignmentRequest {
                assignment_id: id,
                handler,
            }))
            .await
            .map_err(client::status_error)?
            .into_inner(),
        AssignmentCommand::Return { id, reason } => {
            let r = dispatch
                .return_assignment(request(ReturnAssignmentRequest {
                    assignment_id: id,
                    reason,
                }))
                .await
                .map_err(client::status_error)?
                .into_inner();
            r.reassigned.unwrap_or_default()
        }
        AssignmentCommand::Reply { id, reply } => dispatch
            .reply_assignment(request(ReplyAssignmentRequest {
                assignment_id: id,
                reply,
            }))
            .await
            .map_err(client::status_error)?
            .into_inner(),
        AssignmentCommand::Refer {
            id,
            linkage,
            summary,
        } => dispatch
            .refer_to_mediation(request(ReferToMediationRequest {
                assignment_id: id,
                linkage: client::parse_linkage(&linkage)? as i32,
                summary,
            }))
            .await
            .map_err(client::status_error)?
            .into_inner(),
        AssignmentCommand::Escalate { id, level, reason } => dispatch
            .escalate(request(EscalateRequest {
                assignment_id: id,
                level: client::parse_escalation(&level)? as i32,
                reason,
            }))
            .await
            .map_err(client::status_error)?
            .into_inner(),
    };
    print(
        conn.json,
        client::assignment_json(&one),
        client::assignment_text(&one),
    );
    Ok(())
}

async fn mediation(conn: Conn, command: MediationCommand) -> Result<(), CliError> {
    let mut mediation = client::mediation(&conn.mediation).await?;
    match command {
        MediationCommand::Committees => {
            let committees = mediation
                .list_committees(request(ListCommitteesRequest {}))
                .await
                .map_err(client::status_error)?
                .into_inner()
                .committees;
            print(
                conn.json,
                serde_json::json!(committees.iter().map(|c| serde_json::json!({
                    "code": c.code, "name": c.name,
                    "categories": c.categories.iter().map(|k| Category::try_from(*k).map(|k| client::short_name("CATEGORY_", k.as_str_name())).unwrap_or_default()).collect::<Vec<_>>(),
                })).collect::<Vec<_>>()),
                committees.iter().map(client::committee_text).collect(),
            );
        }
        MediationCommand::List { case, committee } => {
            let files = mediation
                .list_mediations(request(ListMediationsRequest {
                    case_id: case,
                    committee,
                    ..Default::default()
                }))
                .await
                .map_err(client::status_error)?
                .into_inner()
                .mediations;
            print(
                conn.json,
                serde_json::json!(files.iter().map(client::mediation_json).collect::<Vec<_>>()),
                if files.is_empty() {
                    "no mediation files\n".into()
                } else {
                    files.iter().map(client::mediation_text).collect()
                },
            );
        }
        MediationCommand::Get { id } => {
            let file = mediation
                .get_mediation(request(GetMediationRequest { mediation_id: id }))
                .await
                .map_err(client::status_error)?
                .into_inner();
            print(
                conn.json,
                client::mediation_json(&file),
                client::mediation_text(&file),
            );
        }
        MediationCommand::Register { name, committee } => {
            let m = mediation
                .register_mediator(request(RegisterMediatorRequest { name, committee }))
                .await
                .map_err(client::status_error)?
                .into_inner();
            print(
                conn.json,
                serde_json::json!({"mediator_id": m.mediator_id, "name": m.name, "committee": m.committee}),
                format!(
                    "registered mediator {} ({}) to {}\n",
                    m.name, m.mediator_id, m.committee
                ),
            );
        }
    }
    Ok(())
}

async fn situation(conn: Conn, period: PeriodArgs) -> Result<(), CliError> {
    let s = client::analysis(&conn.analysis)
        .await?
        .get_situation(request(GetSituationRequest {
            period: period.period()?,
        }))
        .await
        .map_err(client::status_error)?
        .into_inner();
    print(
        conn.json,
        client::situation_json(&s),
        client::situation_text(&s),
    );
    Ok(())
}

async fn alerts(conn: Conn, all: bool, command: Option<AlertCommand>) -> Result<(), CliError> {
    let mut analysis = client::analysis(&conn.analysis).await?;
    if let Some(AlertCommand::Ack { id }) = command {
        let a = analysis
            .acknowledge_alert(request(AcknowledgeAlertRequest { alert_id: id }))
            .await
            .map_err(client::status_error)?
            .into_inner();
        print(conn.json, client::alert_json(&a), client::alert_text(&a));
        return Ok(());
    }
    let r = analysis
        .list_alerts(request(ListAlertsRequest {
            include_acknowledged: all,
            page: Some(PageRequest {
                page_size: 500,
                page_token: String::new(),
            }),
            ..Default::default()
        }))
        .await
        .map_err(client::status_error)?
        .into_inner();
    print(
        conn.json,
        serde_json::json!(r.alerts.iter().map(client::alert_json).collect::<Vec<_>>()),
        if r.alerts.is_empty() {
            "no alerts\n".into()
        } else {
            r.alerts.iter().map(client::alert_text).collect()
        },
    );
    Ok(())
}

async fn scorecard(
    conn: Conn,
    department: String,
    period: PeriodArgs,
    negative: bool,
) -> Result<(), CliError> {
    let mut assessment = client::assessment(&conn.assessment).await?;
    let period = period.period()?;
    let cards = assessment
        .get_scorecard(request(GetScorecardRequest {
            department: department.clone(),
            period,
        }))
        .await
        .map_err(client::status_error)?
        .into_inner()
        .scorecards;
    let entries = if negative {
        assessment
            .list_negative_list(request(ListNegativeListRequest { period, department }))
            .await
            .map_err(client::status_error)?
            .into_inner()
            .entries
    } else {
        Vec::new()
    };
    let mut text = String::from(client::SCORECARD_HEADER);
    text.extend(cards.iter().map(client::scorecard_text));
    if negative {
        text.push_str("negative list:\n");
        text.extend(entries.iter().map(client::negative_entry_text));
    }
    print(
        conn.json,
        serde_json::json!({
            "scorecards": cards.iter().map(client::scorecard_json).collect::<Vec<_>>(),
            "negative_list": entries.iter().map(|e| serde_json::json!({
                "department": e.department, "case_id": e.case_id, "case_number": e.case_number, "kind": e.kind,
                "at": client::show_time(&e.at), "reason": e.reason,
            })).collect::<Vec<_>>(),
        }),
        text,
    );
    Ok(())
}
