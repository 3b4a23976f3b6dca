//! `yimen`: run services (`serve`, `standalone`), prepare stores (`migrate`), probe health
//! (`healthcheck`), and operate a running installation (`case`, `dept`, `assignment`).

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
        /// Comma-separated: intake,dispatch
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
    },
    /// Create or update the stores of the named services, then exit.
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
    #[arg(skip)]
    json: bool,
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
            serve(settings, &target, Vec::new()).await
        }
        Command::Standalone { data_dir, seed } => {
            let mut settings = Settings::load(cli.config.as_deref())?;
            if let Some(dir) = data_dir {
                settings.standalone.data_dir = dir;
            }
            if let Some(seed) = seed {
                settings.standalone.seed_departments = seed;
            }
            let settings = settings.into_standalone();
            let seed = match settings.standalone.seed_departments.as_str() {
                "" => Vec::new(),
                path => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| anyhow::anyhow!("cannot read department seed {path}: {e}"))?;
                    yimen_dispatch::parse_seed(&text)
                        .map_err(|e| anyhow::anyhow!("department seed {path}: {e:#}"))?
                }
            };
            serve(settings, &Target::ALL, seed).await
        }
        Command::Migrate { target } => {
            let settings = Settings::load(cli.config.as_deref())?;
            let _telemetry = yimen_platform::telemetry::init("yimen-migrate", &settings.telemetry)?;
            for (_, db) in yimen::run::migrate(&settings, &target).await? {
                db.close().await;
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
    }
}

async fn serve(
    settings: Settings,
    targets: &[Target],
    seed: Vec<JoinDepartmentRequest>,
) -> anyhow::Result<ExitCode> {
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
    let running = yimen::run::start(&settings, targets, bus, &seed).await?;
    for (target, addr) in &running.addrs {
        tracing::info!(service = target.name(), %addr, "listening");
        eprintln!("yimen: {} listening on {addr}", target.name());
    }
    yimen_platform::server::cancel_on_signal(running.shutdown_token());
    running.wait().await;
    telemetry.shutdown();
    Ok(ExitCode::SUCCESS)
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
    };
    print(
        conn.json,
        client::assignment_json(&one),
        client::assignment_text(&one),
    );
    Ok(())
}
