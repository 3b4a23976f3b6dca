//! `yimen chaos` (`make chaos`): fault rounds under steady load. A PostgreSQL server and a
//! RabbitMQ node of the run's own (never the machine's: they are stopped here), five
//! `yimen serve` processes on them, all on loopback, and a paced SubmitCase load through every
//! round: a steady one, then RabbitMQ restarted, PostgreSQL stopped at once and started again,
//! each service killed (`SIGKILL`) and started again, and a department leaving. After each
//! fault it measures how long until service resumed: a SubmitCase started after the fault ended
//! was answered and its case assigned, and, after a kill, the killed service's consumer applied
//! its events; after the broker or the database came back, it went through every service. Then the load stops, the pipeline
//! drains (bounded), and the checker compares every case the load was told was registered
//! with what the stores hold (`check`): lost, applied twice, timeline incomplete — per round.
//! Everything it made is removed when it ends, however it ends.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use yimen_platform::auth::{Principal, Role};
use yimen_proto::v1::LeaveDepartmentRequest;

use super::check::{self, Verdict};
use super::cluster::Cluster;
use super::private::{Postgres, Rabbit};
use super::{Call, Failures, Ledger, Load};
use crate::client::Clients;
use crate::progress::Progress;
use crate::run::Target;

/// The shape of a run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Cases offered a second, by how many callers.
    pub rate: f64,
    pub concurrency: usize,
    /// Steady load before each fault.
    pub steady: Duration,
    /// How long PostgreSQL and RabbitMQ stay down.
    pub down: Duration,
    /// Service must resume within this of each fault's end (the target).
    pub resume_target: Duration,
    /// How long a round waits for service to resume before it gives up on it.
    pub resume_patience: Duration,
    /// How long the pipeline may take to drain once the load stops.
    pub drain_patience: Duration,
}

/// A fault of a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// None: the steady baseline.
    Steady,
    RestartBroker,
    StopDatabase,
    Kill(Target),
    DepartmentLeaves,
}

impl Fault {
    /// Every round of a run, in order.
    pub fn all() -> Vec<Fault> {
        let mut all = vec![Fault::Steady, Fault::RestartBroker, Fault::StopDatabase];
        all.extend(Target::ALL.into_iter().map(Fault::Kill));
        all.push(Fault::DepartmentLeaves);
        all
    }

    /// Whether a case registered after the fault shows service resumed: it was assigned, and
    /// a killed service's consumer applied its events; after the broker or the database came
    /// back (every consumer reconnects), and in the steady round, it went through every
    /// service.
    pub fn resumed(self, case: &check::CaseState) -> bool {
        let assigned = case.registered && case.assignments > 0;
        match self {
            Fault::Kill(Target::Intake) => assigned && case.assigned_lines > 0,
            Fault::Kill(Target::Dispatch) | Fault::DepartmentLeaves => assigned,
            Fault::Kill(Target::Mediation) => assigned && case.mediation_numbered,
            Fault::Kill(Target::Analysis) => {
                assigned && case.analysis_registered && case.analysis_assignments > 0
            }
            Fault::Kill(Target::Assessment) => {
                assigned && case.assessment_registered && case.assessment_assignments > 0
            }
            Fault::Steady | Fault::RestartBroker | Fault::StopDatabase => {
                check::findings(Some(case)).is_empty()
            }
        }
    }

    fn name(self) -> String {
        match self {
            Fault::Steady => "none (steady)".into(),
            Fault::RestartBroker => "RabbitMQ restarted".into(),
            Fault::StopDatabase => "PostgreSQL stopped (immediate), started".into(),
            Fault::Kill(target) => format!("kill -9 {}, restarted", target.name()),
            Fault::DepartmentLeaves => "a department leaves".into(),
        }
    }
}

/// One round as it went.
#[derive(Debug, Clone)]
pub struct Round {
    pub fault: Fault,
    /// What the fault did, when there is more to say (the department that left).
    pub note: String,
    pub started: Instant,
    /// When the fault was over (the server back, the process started again, the answer in).
    pub fault_ended: Instant,
    /// From then until a SubmitCase started after it had its case as far as the fault asks
    /// ([`Fault::resumed`]); `None` when that did not happen within the patience.
    pub resumed: Option<Duration>,
}

/// A round's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    pub accepted: usize,
    pub failed_calls: usize,
    pub lost: usize,
    pub double: usize,
    pub incomplete: usize,
    /// The longest a case of the round waited from its registration to its first assignment.
    pub slowest: Option<Duration>,
}

/// What a run found.
pub struct Report {
    pub plan: Plan,
    pub rounds: Vec<(Round, Figures)>,
    pub total: Figures,
    /// Cases intake registered that no answered call names (calls whose every attempt failed).
    pub unanswered: usize,
    /// Matters given up after retrying.
    pub given_up: usize,
    /// Messages in the services' dead-letter queues at the end.
    pub dead_letters: u64,
    /// Some findings, to start looking from: the round, the case, what is wrong.
    pub examples: Vec<String>,
    pub drained: Option<Duration>,
}

impl Report {
    /// Every round lost nothing, applied nothing twice, left no timeline incomplete, and
    /// resumed within the target.
    pub fn passed(&self) -> bool {
        self.total.lost == 0
            && self.total.double == 0
            && self.total.incomplete == 0
            && self
                .rounds
                .iter()
                .all(|(round, _)| round.resumed.is_some_and(|r| r <= self.plan.resume_target))
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut table = crate::cli::render::Table::new([
            "round",
            "fault",
            "accepted",
            "failed calls",
            "resumed after",
            "slowest to assigned",
            "lost",
            "double",
            "timeline incomplete",
        ])
        .right(&[2, 3, 4, 5, 6, 7, 8]);
        for (n, (round, figures)) in self.rounds.iter().enumerate() {
            let mut fault = round.fault.name();
            if !round.note.is_empty() {
                let _ = write!(fault, " ({})", round.note);
            }
            table.row([
                (n + 1).to_string(),
                fault,
                figures.accepted.to_string(),
                figures.failed_calls.to_string(),
                match round.resumed {
                    Some(r) => format!("{:.2} s", r.as_secs_f64()),
                    None => format!("not within {} s", self.plan.resume_patience.as_secs()),
                },
                seconds(figures.slowest),
                figures.lost.to_string(),
                figures.double.to_string(),
                figures.incomplete.to_string(),
            ]);
        }
        let slowest = self.rounds.iter().filter_map(|(r, _)| r.resumed).max();
        table.row([
            "total".to_string(),
            format!("{} faults", self.rounds.len().saturating_sub(1)),
            self.total.accepted.to_string(),
            self.total.failed_calls.to_string(),
            slowest.map_or("-".into(), |r| format!("max {:.2} s", r.as_secs_f64())),
            seconds(self.total.slowest),
            self.total.lost.to_string(),
            self.total.double.to_string(),
            self.total.incomplete.to_string(),
        ]);
        writeln!(
            f,
            "yimen chaos: {:.0} cases/s offered by {} callers, {} s steady before each fault, \
             PostgreSQL and RabbitMQ down {} s",
            self.plan.rate,
            self.plan.concurrency,
            self.plan.steady.as_secs(),
            self.plan.down.as_secs()
        )?;
        write!(f, "{}", table.render("  "))?;
        match self.drained {
            Some(d) => writeln!(
                f,
                "  every accepted case through every service {:.2} s after the load stopped",
                d.as_secs_f64()
            )?,
            None => writeln!(
                f,
                "  the pipeline had not drained {} s after the load stopped",
                self.plan.drain_patience.as_secs()
            )?,
        }
        writeln!(
            f,
            "  registered but never answered: {}; matters given up: {}; dead letters: {}",
            self.unanswered, self.given_up, self.dead_letters
        )?;
        for example in &self.examples {
            writeln!(f, "  {example}")?;
        }
        let verdict = if self.passed() {
            "PASS".to_string()
        } else {
            format!(
                "FAIL (targets: 0 lost, 0 double, 0 incomplete, resumed within {} s)",
                self.plan.resume_target.as_secs()
            )
        };
        writeln!(f, "  {verdict}")
    }
}

/// `2.05 s`, or `-` when unknown.
fn seconds(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.2} s", d.as_secs_f64()))
}

/// A directory removed when dropped (after what lives in it has been stopped), unless kept.
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Runs every round of `plan` on a fresh private installation and checks the outcome.
pub async fn run(plan: Plan, progress: &Progress) -> anyhow::Result<Report> {
    let mut work = WorkDir {
        path: std::env::temp_dir().join(format!("yimen-chaos-{}", uuid::Uuid::now_v7().simple())),
        keep: false,
    };
    std::fs::create_dir_all(work.path.join("logs"))?;
    progress.say(&format!(
        "chaos: private PostgreSQL and RabbitMQ in {}",
        work.path.display()
    ));
    let postgres = Postgres::start(&work.path.join("postgres"))?;
    let mut rabbit = Rabbit::start(&work.path.join("rabbitmq"))?;
    let database = postgres.url("postgres");
    let (env, token) = configure(&work.path, &database, &rabbit.url())?;

    progress.say("chaos: migrating, joining the departments, starting the five services");
    let mut cluster = Cluster::start(env, &work.path.join("logs")).await?;
    cluster.ready(Duration::from_secs(60)).await?;
    let clients = Clients::connect(&cluster.urls(&token)).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy(&database)?;

    let ledger = Arc::new(Ledger::default());
    let stop = tokio_util::sync::CancellationToken::new();
    let load = Load {
        cases: 10_000_000,
        concurrency: plan.concurrency,
        rate: Some(plan.rate),
        patience: plan.drain_patience,
        reads: 0,
        read_concurrency: 0,
    };
    let failures = Failures::Retry {
        run: format!("chaos-{}", uuid::Uuid::now_v7().simple()),
        patience: Duration::from_secs(60),
    };
    let submitting = {
        let (clients, ledger, stop) = (clients.clone(), ledger.clone(), stop.clone());
        tokio::spawn(async move {
            super::submit_until(&clients, load, failures, ledger, stop, Progress::silent()).await
        })
    };

    let faults = Fault::all();
    let mut rounds = Vec::new();
    for (n, fault) in faults.iter().copied().enumerate() {
        let started = Instant::now();
        progress.say(&format!(
            "chaos: round {}/{}: {} s steady, then {}",
            n + 1,
            faults.len(),
            plan.steady.as_secs(),
            fault.name()
        ));
        tokio::time::sleep(plan.steady).await;
        let note = match fault {
            Fault::Steady => String::new(),
            Fault::RestartBroker => {
                tokio::task::block_in_place(|| rabbit.stop())?;
                tokio::time::sleep(plan.down).await;
                tokio::task::block_in_place(|| rabbit.up())?;
                String::new()
            }
            Fault::StopDatabase => {
                tokio::task::block_in_place(|| postgres.stop_immediately())?;
                tokio::time::sleep(plan.down).await;
                tokio::task::block_in_place(|| postgres.up())?;
                String::new()
            }
            Fault::Kill(target) => {
                let held = claim_in_hand(&pool, target).await;
                cluster.kill(target).await?;
                cluster.spawn(target)?;
                match held {
                    0 => String::new(),
                    n => format!("mid-publish: {n} claimed"),
                }
            }
            Fault::DepartmentLeaves => leave(&clients, &pool).await?,
        };
        let fault_ended = Instant::now();
        let resumed = resumption(fault, &ledger, &pool, fault_ended, plan.resume_patience).await;
        match resumed {
            Some(r) => progress.say(&format!("  resumed after {:.2} s", r.as_secs_f64())),
            None => progress.say(&format!(
                "  not resumed within {} s",
                plan.resume_patience.as_secs()
            )),
        }
        rounds.push(Round {
            fault,
            note,
            started,
            fault_ended,
            resumed,
        });
    }

    progress.say("chaos: stopping the load; waiting for the pipeline to drain");
    stop.cancel();
    let submitted = submitting.await??;
    let stopped = Instant::now();
    let accepted: Vec<String> = submitted.calls.iter().map(|c| c.case_id.clone()).collect();
    let drained = drain(&pool, &accepted, plan.drain_patience, progress)
        .await
        .map(|()| stopped.elapsed());

    progress.say("chaos: checking every accepted case against the stores");
    let state = check::read(&pool, None).await?;
    let dead_letters = dead_letters(&rabbit.url()).await;
    let mut report = compare(
        plan,
        rounds,
        &submitted.calls,
        &ledger.failures(),
        &state,
        stopped,
    );
    report.given_up = ledger.given_up();
    report.dead_letters = dead_letters;
    report.drained = drained;

    pool.close().await;
    cluster.stop(Duration::from_secs(5)).await;
    drop(rabbit);
    drop(postgres);
    if !report.passed() || std::env::var_os("YIMEN_CHAOS_KEEP").is_some() {
        // The services' logs, to look into what went wrong; the keys are of no use.
        let _ = std::fs::remove_dir_all(work.path.join("keys"));
        work.keep = true;
        progress.say(&format!(
            "chaos: the services' logs are kept in {}",
            work.path.join("logs").display()
        ));
    }
    Ok(report)
}

/// Waits until every case of `accepted` went through every service, for at most `patience`,
/// saying every 5 s how many have not yet; `None` when they had not by then.
async fn drain(
    pool: &sqlx::PgPool,
    accepted: &[String],
    patience: Duration,
    progress: &Progress,
) -> Option<()> {
    let started = Instant::now();
    let mut said = started;
    loop {
        let waiting = match check::read(pool, None).await {
            Ok(state) => accepted
                .iter()
                .filter(|case| !check::findings(state.get(*case)).is_empty())
                .count(),
            Err(_) => accepted.len(),
        };
        if waiting == 0 {
            return Some(());
        }
        if started.elapsed() >= patience {
            return None;
        }
        if said.elapsed() >= Duration::from_secs(5) {
            said = Instant::now();
            progress.say(&format!(
                "  {waiting} of {} cases not through yet",
                accepted.len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The services' configuration (`YIMEN__…` variables) on the private servers, with keys made
/// under `dir`, and an administrator's token.
fn configure(
    dir: &Path,
    database: &str,
    bus: &str,
) -> anyhow::Result<(Vec<(String, String)>, String)> {
    let keys = dir.join("keys");
    let files = yimen_platform::auth::generate_keys(&keys)?;
    let data_key = keys.join("data.json");
    crate::keys::init(&data_key, Default::default())?;
    let defaults: crate::settings::Settings = yimen_platform::config::load_from(None, vec![])?;
    let token = crate::auth::issue(
        &defaults,
        &files.signing_key,
        &Principal {
            subject: "chaos".into(),
            role: Role::Admin,
            department: None,
            committee: None,
        },
        Duration::from_secs(2 * 3600),
    )?;
    let path = |p: &Path| p.display().to_string();
    let env = [
        ("YIMEN__DATABASE__URL", database.to_string()),
        ("YIMEN__DATABASE__MAX_CONNECTIONS", "8".into()),
        ("YIMEN__BUS__URL", bus.to_string()),
        ("YIMEN__AUTH__VERIFY_KEYS_FILE", path(&files.jwks)),
        ("YIMEN__AUTH__RATE_LIMIT_PER_SEC", "0".into()),
        ("YIMEN__SECURITY__DATA_KEY_FILE", path(&data_key)),
        ("YIMEN__INTAKE__PETITIONER_KEY", "chaos".into()),
        ("YIMEN__SERVER__SHUTDOWN_GRACE_SECS", "3".into()),
        ("YIMEN__TELEMETRY__LOG_LEVEL", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Ok((env, token))
}

/// Waits, for at most 2 s, until `target`'s outbox relay holds a claim on unsent events (it is
/// publishing them), so the kill lands at the worst moment for them; answers how many it held
/// (0: none seen in time, the kill comes anyway).
async fn claim_in_hand(pool: &sqlx::PgPool, target: Target) -> i64 {
    let held = format!(
        "SELECT count(*) FROM {}.outbox WHERE claimed_by IS NOT NULL AND sent_at IS NULL",
        target.name()
    );
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        let count: Result<i64, _> = sqlx::query_scalar(sqlx::AssertSqlSafe(held.as_str()))
            .fetch_one(pool)
            .await;
        if let Ok(n) = count
            && n > 0
        {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    0
}

/// The fault of the last round: the department holding the most open cases (the city center
/// aside, which never leaves) leaves. Says which, and how many cases it handed over.
async fn leave(clients: &Clients, pool: &sqlx::PgPool) -> anyhow::Result<String> {
    let (code,): (String,) = sqlx::query_as(
        "SELECT department FROM dispatch.assignments \
         WHERE state IN ('PENDING', 'ACCEPTED') AND department <> 'city-center' \
         GROUP BY department ORDER BY count(*) DESC, department LIMIT 1",
    )
    .fetch_one(pool)
    .await?;
    let left = clients
        .dispatch
        .clone()
        .leave_department(LeaveDepartmentRequest {
            code: code.clone(),
            reason: "yimen chaos".into(),
        })
        .await?
        .into_inner();
    Ok(format!(
        "{code}, {} cases handed over",
        left.handovers.len()
    ))
}

/// How long after `since` a SubmitCase started after it had its case as far as `fault` asks
/// ([`Fault::resumed`]; asked every 100 ms, of the first few such calls), or `None` after
/// `patience`.
async fn resumption(
    fault: Fault,
    ledger: &Ledger,
    pool: &sqlx::PgPool,
    since: Instant,
    patience: Duration,
) -> Option<Duration> {
    const WATCHED: usize = 20;
    while since.elapsed() < patience {
        let cases: Vec<String> = ledger.read_calls(|calls| {
            let mut after: Vec<&Call> = calls.iter().filter(|c| c.at >= since).collect();
            after.sort_by_key(|c| c.at);
            after
                .iter()
                .take(WATCHED)
                .map(|c| c.case_id.clone())
                .collect()
        });
        if !cases.is_empty()
            && let Ok(state) = check::read(pool, Some(&cases)).await
            && cases
                .iter()
                .any(|case| state.get(case).is_some_and(|s| fault.resumed(s)))
        {
            return Some(since.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Messages in the five services' dead-letter queues (0 for a queue never declared).
async fn dead_letters(url: &str) -> u64 {
    use lapin::options::QueueDeclareOptions;
    let Ok(connection) =
        lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await
    else {
        return 0;
    };
    let mut dead = 0;
    for target in Target::ALL {
        let name = format!("{}.dead", target.queue().name);
        // A passive declaration of a missing queue closes its channel: one each.
        let Ok(channel) = connection.create_channel().await else {
            continue;
        };
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        if let Ok(queue) = channel
            .queue_declare(name.as_str().into(), passive, Default::default())
            .await
        {
            dead += u64::from(queue.message_count());
        }
    }
    let _ = connection.close(200, "OK".into()).await;
    dead
}

/// Each round's figures: the cases whose call started in it (the last round keeps those until
/// `stopped`), the calls that failed in it, and the findings on its cases.
pub fn compare(
    plan: Plan,
    rounds: Vec<Round>,
    calls: &[Call],
    failures: &[super::Failure],
    state: &std::collections::HashMap<String, check::CaseState>,
    stopped: Instant,
) -> Report {
    const EXAMPLES: usize = 10;
    let ends: Vec<Instant> = rounds
        .iter()
        .skip(1)
        .map(|r| r.started)
        .chain([stopped + Duration::from_secs(3600)])
        .collect();
    let mut examples = Vec::new();
    let mut figured = Vec::new();
    let mut total = Figures::default();
    for (n, (round, end)) in rounds.into_iter().zip(ends).enumerate() {
        let within = |at: Instant| at >= round.started && at < end;
        let mut figures = Figures {
            failed_calls: failures.iter().filter(|f| within(f.at)).count(),
            ..Figures::default()
        };
        for call in calls.iter().filter(|c| within(c.at)) {
            figures.accepted += 1;
            let found = check::findings(state.get(&call.case_id));
            let has = |v: Verdict| found.iter().any(|f| f.verdict == v);
            figures.lost += usize::from(has(Verdict::Lost));
            figures.double += usize::from(has(Verdict::Double));
            figures.incomplete += usize::from(has(Verdict::Incomplete));
            let waited = state
                .get(&call.case_id)
                .and_then(check::CaseState::to_assignment);
            figures.slowest = figures.slowest.max(waited);
            if let Some(first) = found.first()
                && examples.len() < EXAMPLES
            {
                let whys: Vec<&str> = found.iter().map(|f| f.why).collect();
                examples.push(format!(
                    "round {}: case {} ({:?}): {}",
                    n + 1,
                    call.case_id,
                    first.verdict,
                    whys.join("; ")
                ));
            }
        }
        total.accepted += figures.accepted;
        total.failed_calls += figures.failed_calls;
        total.lost += figures.lost;
        total.double += figures.double;
        total.incomplete += figures.incomplete;
        total.slowest = total.slowest.max(figures.slowest);
        figured.push((round, figures));
    }
    let answered: std::collections::HashSet<&str> =
        calls.iter().map(|c| c.case_id.as_str()).collect();
    let unanswered = state
        .iter()
        .filter(|(case, s)| s.registered && !answered.contains(case.as_str()))
        .count();
    Report {
        plan,
        rounds: figured,
        total,
        unanswered,
        given_up: 0,
        dead_letters: 0,
        examples,
        drained: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Failure;
    use check::CaseState;

    #[test]
    fn each_case_and_failed_call_counts_in_the_round_it_started_in() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let round = |fault, started_ms| Round {
            fault,
            note: String::new(),
            started: at(started_ms),
            fault_ended: at(started_ms + 50),
            resumed: Some(Duration::from_millis(200)),
        };
        let rounds = vec![
            round(Fault::Steady, 0),
            round(Fault::Kill(Target::Dispatch), 1000),
        ];
        let call = |n: usize, case: &str, at_ms: u64| Call {
            n,
            case_id: case.into(),
            at: at(at_ms),
            latency: Duration::from_millis(5),
        };
        // `fine` went through; `lost` never reached dispatch; `late`, asked for just before
        // the load stopped, went through, assigned 1.5 s after it was registered.
        let calls = [
            call(0, "fine", 10),
            call(1, "lost", 1100),
            call(2, "late", 1900),
        ];
        let failures = [Failure {
            at: at(1060),
            code: tonic::Code::Unavailable,
        }];
        let complete = check::through("labour");
        assert_eq!(complete.to_assignment(), Some(Duration::ZERO));
        let unrouted = CaseState {
            registered: true,
            registered_lines: 1,
            ..CaseState::default()
        };
        let state = [
            ("fine", complete.clone()),
            ("lost", unrouted.clone()),
            (
                "late",
                CaseState {
                    first_assigned_at: Some(1500),
                    ..complete
                },
            ),
            ("orphan", unrouted),
        ]
        .into_iter()
        .map(|(case, s)| (case.to_string(), s))
        .collect();
        let plan = Plan {
            rate: 10.0,
            concurrency: 1,
            steady: Duration::from_secs(1),
            down: Duration::ZERO,
            resume_target: Duration::from_secs(10),
            resume_patience: Duration::from_secs(30),
            drain_patience: Duration::from_secs(10),
        };

        let report = compare(plan, rounds, &calls, &failures, &state, at(2000));
        let figures: Vec<&Figures> = report.rounds.iter().map(|(_, f)| f).collect();
        assert_eq!(
            figures,
            vec![
                &Figures {
                    accepted: 1,
                    slowest: Some(Duration::ZERO),
                    ..Figures::default()
                },
                &Figures {
                    accepted: 2,
                    failed_calls: 1,
                    lost: 1,
                    slowest: Some(Duration::from_millis(1500)),
                    ..Figures::default()
                },
            ]
        );
        assert_eq!(report.total.lost, 1);
        assert_eq!(
            report.unanswered, 1,
            "the orphan: registered, never answered"
        );
        assert!(!report.passed());
        assert!(report.examples[0].contains("round 2: case lost (Lost)"));
    }
}
