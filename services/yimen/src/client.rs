//! The operator client over gRPC: the clients of the five services, and the readable (default)
//! and JSON (`--json`) forms of what they answer, with a one-line error when a server is away.

use std::time::Duration;

use serde_json::{Value, json};
use tonic::Request;
use tonic::codegen::InterceptedService;
use tonic::transport::Channel as GrpcChannel;
use yimen_platform::telemetry::TraceContextInterceptor;
use yimen_proto::v1::analysis_service_client::AnalysisServiceClient;
use yimen_proto::v1::assessment_service_client::AssessmentServiceClient;
use yimen_proto::v1::dispatch_service_client::DispatchServiceClient;
use yimen_proto::v1::intake_service_client::IntakeServiceClient;
use yimen_proto::v1::mediation_service_client::MediationServiceClient;
use yimen_proto::v1::*;

use crate::run::Target;

/// A failure to show the operator: one line, no stack.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

pub type Traced = InterceptedService<GrpcChannel, TraceContextInterceptor>;

/// Connects to a service, naming it and the address when it cannot be reached.
pub async fn channel(service: &str, url: &str) -> Result<GrpcChannel, CliError> {
    let endpoint = GrpcChannel::from_shared(url.to_string())
        .map_err(|e| CliError(format!("bad {service} address `{url}`: {e}")))?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(30));
    endpoint.connect().await.map_err(|e| {
        let cause = std::error::Error::source(&e)
            .map(|s| s.to_string())
            .unwrap_or_else(|| e.to_string());
        CliError(format!(
            "cannot reach {service} at {url} ({cause}); is `yimen standalone` or `yimen serve` running?"
        ))
    })
}

/// A channel to `target` that carries the current trace context on every call.
pub async fn traced(target: Target, url: &str) -> Result<Traced, CliError> {
    Ok(InterceptedService::new(
        channel(target.name(), url).await?,
        TraceContextInterceptor,
    ))
}

pub async fn intake(url: &str) -> Result<IntakeServiceClient<Traced>, CliError> {
    Ok(IntakeServiceClient::new(traced(Target::Intake, url).await?))
}

pub async fn dispatch(url: &str) -> Result<DispatchServiceClient<Traced>, CliError> {
    Ok(DispatchServiceClient::new(
        traced(Target::Dispatch, url).await?,
    ))
}

pub async fn mediation(url: &str) -> Result<MediationServiceClient<Traced>, CliError> {
    Ok(MediationServiceClient::new(
        traced(Target::Mediation, url).await?,
    ))
}

pub async fn analysis(url: &str) -> Result<AnalysisServiceClient<Traced>, CliError> {
    Ok(AnalysisServiceClient::new(
        traced(Target::Analysis, url).await?,
    ))
}

pub async fn assessment(url: &str) -> Result<AssessmentServiceClient<Traced>, CliError> {
    Ok(AssessmentServiceClient::new(
        traced(Target::Assessment, url).await?,
    ))
}

/// Asks `probe` every 50 ms until it answers `Some`, for at most `patience`: waiting, bounded,
/// for what events bring about in another service. `what` names it in the error.
pub async fn eventually<T, F, Fut>(
    what: &str,
    patience: Duration,
    mut probe: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if let Some(found) = probe().await? {
            return Ok(found);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("after {patience:?}, still not: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Where the five services answer.
#[derive(Debug, Clone)]
pub struct Urls {
    pub intake: String,
    pub dispatch: String,
    pub mediation: String,
    pub analysis: String,
    pub assessment: String,
}

impl Urls {
    /// Each service on this machine at its default port.
    pub fn local() -> Self {
        Self::from_fn(|t| format!("http://127.0.0.1:{}", t.default_port()))
    }

    /// `url(target)` for each service.
    pub fn from_fn(url: impl Fn(Target) -> String) -> Self {
        Self {
            intake: url(Target::Intake),
            dispatch: url(Target::Dispatch),
            mediation: url(Target::Mediation),
            analysis: url(Target::Analysis),
            assessment: url(Target::Assessment),
        }
    }

    pub fn of(&self, target: Target) -> &str {
        match target {
            Target::Intake => &self.intake,
            Target::Dispatch => &self.dispatch,
            Target::Mediation => &self.mediation,
            Target::Analysis => &self.analysis,
            Target::Assessment => &self.assessment,
        }
    }
}

/// The clients of a whole installation.
#[derive(Clone)]
pub struct Clients {
    pub intake: IntakeServiceClient<Traced>,
    pub dispatch: DispatchServiceClient<Traced>,
    pub mediation: MediationServiceClient<Traced>,
    pub analysis: AnalysisServiceClient<Traced>,
    pub assessment: AssessmentServiceClient<Traced>,
    /// Where they were connected.
    pub urls: Urls,
}

impl Clients {
    pub async fn connect(urls: &Urls) -> Result<Self, CliError> {
        Ok(Self {
            intake: intake(&urls.intake).await?,
            dispatch: dispatch(&urls.dispatch).await?,
            mediation: mediation(&urls.mediation).await?,
            analysis: analysis(&urls.analysis).await?,
            assessment: assessment(&urls.assessment).await?,
            urls: urls.clone(),
        })
    }
}

/// A gRPC status as one line, with every field violation named.
pub fn status_error(status: tonic::Status) -> CliError {
    use tonic_types::StatusExt;
    let mut line = format!("{:?}: {}", status.code(), status.message());
    if let Some(bad) = status.get_details_bad_request() {
        let fields: Vec<String> = bad
            .field_violations
            .iter()
            .map(|v| format!("{} ({})", v.field, v.description))
            .collect();
        if !fields.is_empty() {
            line = format!("{:?}: invalid {}", status.code(), fields.join(", "));
        }
    }
    CliError(line)
}

/// `visit` → `CHANNEL_VISIT`; `labour-wages` → `CATEGORY_LABOUR_WAGES`.
pub fn enum_name(prefix: &str, short: &str) -> String {
    let upper = short.trim().to_ascii_uppercase().replace('-', "_");
    if upper.starts_with(prefix) {
        upper
    } else {
        format!("{prefix}{upper}")
    }
}

/// `CATEGORY_LABOUR_WAGES` → `labour-wages`.
pub fn short_name(prefix: &str, full: &str) -> String {
    full.strip_prefix(prefix)
        .unwrap_or(full)
        .to_ascii_lowercase()
        .replace('_', "-")
}

pub fn parse_channel(s: &str) -> Result<Channel, CliError> {
    Channel::from_str_name(&enum_name("CHANNEL_", s))
        .ok_or_else(|| CliError(format!("unknown channel `{s}` (visit, letter, phone, online, court-referral, government-referral)")))
}

pub fn parse_category(s: &str) -> Result<Category, CliError> {
    Category::from_str_name(&enum_name("CATEGORY_", s)).ok_or_else(|| {
        CliError(format!(
            "unknown category `{s}`; one of: {}",
            all_categories().join(", ")
        ))
    })
}

pub fn all_categories() -> Vec<String> {
    (1..)
        .map_while(|i| Category::try_from(i).ok())
        .map(|c| short_name("CATEGORY_", c.as_str_name()))
        .collect()
}

pub fn parse_level(s: &str) -> Result<DepartmentLevel, CliError> {
    DepartmentLevel::from_str_name(&enum_name("DEPARTMENT_LEVEL_", s))
        .ok_or_else(|| CliError(format!("unknown level `{s}` (city, town, village)")))
}

pub fn parse_status(s: &str) -> Result<CaseStatus, CliError> {
    CaseStatus::from_str_name(&enum_name("CASE_STATUS_", s))
        .ok_or_else(|| CliError(format!("unknown status `{s}`")))
}

pub fn parse_assignment_state(s: &str) -> Result<AssignmentState, CliError> {
    AssignmentState::from_str_name(&enum_name("ASSIGNMENT_STATE_", s))
        .ok_or_else(|| CliError(format!("unknown assignment state `{s}`")))
}

pub fn parse_satisfaction(s: &str) -> Result<Satisfaction, CliError> {
    Satisfaction::from_str_name(&enum_name("SATISFACTION_", s))
        .filter(|s| *s != Satisfaction::Unspecified)
        .ok_or_else(|| {
            CliError(format!(
                "unknown satisfaction `{s}` (satisfied, basically-satisfied, unsatisfied)"
            ))
        })
}

pub fn parse_linkage(s: &str) -> Result<Linkage, CliError> {
    Linkage::from_str_name(&enum_name("LINKAGE_", s))
        .filter(|l| *l != Linkage::Unspecified)
        .ok_or_else(|| {
            CliError(format!(
                "unknown linkage `{s}` (petition, court, administrative, guidance)"
            ))
        })
}

pub fn parse_escalation(s: &str) -> Result<EscalationLevel, CliError> {
    EscalationLevel::from_str_name(&enum_name("ESCALATION_LEVEL_", s))
        .filter(|l| *l != EscalationLevel::Unspecified)
        .ok_or_else(|| {
            CliError(format!(
                "unknown level `{s}` (reminder, supervision, leader)"
            ))
        })
}

/// `Name[,ID number[,phone]]`.
pub fn parse_person(s: &str) -> Person {
    let mut parts = s.splitn(3, ',').map(|p| p.trim().to_string());
    Person {
        name: parts.next().unwrap_or_default(),
        id_number: parts.next().unwrap_or_default(),
        phone: parts.next().unwrap_or_default(),
    }
}

/// `1234.56` yuan → 123456 fen, exactly.
pub fn parse_yuan(s: &str) -> Result<Money, CliError> {
    let bad = || {
        CliError(format!(
            "amount `{s}` is not a yuan amount like 1200 or 1200.50"
        ))
    };
    let (whole, frac) = s.trim().split_once('.').unwrap_or((s.trim(), ""));
    if frac.len() > 2 || whole.is_empty() {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().map_err(|_| bad())?
    };
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(frac))
        .map(|fen| Money { fen })
        .ok_or_else(bad)
}

pub fn yuan(m: &Money) -> String {
    format!("{}.{:02}", m.fen / 100, (m.fen % 100).abs())
}

/// `2026-11-27` (UTC midnight) or an RFC 3339 instant.
pub fn parse_time(s: &str) -> Result<prost_types::Timestamp, CliError> {
    let millis = if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        t.timestamp_millis()
    } else if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        d.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
            .unwrap_or_default()
    } else {
        return Err(CliError(format!(
            "`{s}` is not a date (2026-11-27) or RFC 3339 time"
        )));
    };
    Ok(yimen_platform::time::timestamp(millis))
}

pub fn show_time(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp_millis(yimen_platform::time::millis(t)))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn status_name(s: i32) -> String {
    CaseStatus::try_from(s)
        .map(|s| short_name("CASE_STATUS_", s.as_str_name()))
        .unwrap_or_else(|_| s.to_string())
}

fn category_name(c: i32) -> String {
    Category::try_from(c)
        .map(|c| short_name("CATEGORY_", c.as_str_name()))
        .unwrap_or_else(|_| c.to_string())
}

fn channel_name(c: i32) -> String {
    Channel::try_from(c)
        .map(|c| short_name("CHANNEL_", c.as_str_name()))
        .unwrap_or_else(|_| c.to_string())
}

fn level_name(l: i32) -> String {
    DepartmentLevel::try_from(l)
        .map(|l| short_name("DEPARTMENT_LEVEL_", l.as_str_name()))
        .unwrap_or_else(|_| l.to_string())
}

fn state_name(s: i32) -> String {
    AssignmentState::try_from(s)
        .map(|s| short_name("ASSIGNMENT_STATE_", s.as_str_name()))
        .unwrap_or_else(|_| s.to_string())
}

fn place(l: &Option<Location>) -> String {
    match l {
        Some(l) if !l.village.is_empty() => format!("{} {}", l.town, l.village),
        Some(l) => l.town.clone(),
        None => String::new(),
    }
}

pub fn case_json(c: &Case) -> Value {
    json!({
        "case_id": c.case_id,
        "case_number": c.case_number,
        "status": status_name(c.status),
        "channel": channel_name(c.channel),
        "category": category_name(c.category),
        "town": c.location.as_ref().map(|l| l.town.clone()).unwrap_or_default(),
        "village": c.location.as_ref().map(|l| l.village.clone()).unwrap_or_default(),
        "headcount": c.headcount,
        "collective": c.collective,
        "petitioners": c.petitioners.iter().map(|p| json!({"name": p.name, "id_number": p.id_number, "phone": p.phone})).collect::<Vec<_>>(),
        "subject": c.subject,
        "description": c.description,
        "amount_claimed": c.amount_claimed.as_ref().map(yuan),
        "department": c.department,
        "registered_at": show_time(&c.registered_at),
        "timeline": c.timeline.iter().map(|t| json!({
            "at": show_time(&t.at), "kind": t.kind, "summary": t.summary, "department": t.department,
        })).collect::<Vec<_>>(),
    })
}

pub fn case_text(c: &Case) -> String {
    let mut out = format!(
        "{}  {}{}\n  subject:    {}\n  category:   {}   place: {}\n  channel:    {}   headcount: {}{}\n  registered: {}\n",
        c.case_number,
        status_name(c.status),
        if c.department.is_empty() {
            String::new()
        } else {
            format!(" → {}", c.department)
        },
        c.subject,
        category_name(c.category),
        place(&c.location),
        channel_name(c.channel),
        c.headcount,
        if c.collective { " (collective)" } else { "" },
        show_time(&c.registered_at),
    );
    if let Some(m) = &c.amount_claimed {
        out.push_str(&format!("  claimed:    {} yuan\n", yuan(m)));
    }
    out.push_str("  timeline:\n");
    for t in &c.timeline {
        out.push_str(&format!(
            "    {}  {:<24} {}\n",
            show_time(&t.at),
            t.kind,
            t.summary
        ));
    }
    out
}

pub fn case_list_json(r: &ListCasesResponse) -> Value {
    json!({
        "cases": r.cases.iter().map(|c| json!({
            "case_id": c.case_id, "case_number": c.case_number, "status": status_name(c.status),
            "category": category_name(c.category), "town": c.location.as_ref().map(|l| l.town.clone()).unwrap_or_default(),
            "subject": c.subject, "department": c.department, "registered_at": show_time(&c.registered_at),
            "headcount": c.headcount,
        })).collect::<Vec<_>>(),
        "next_page_token": r.next_page_token,
    })
}

pub fn case_list_text(r: &ListCasesResponse) -> String {
    let mut out = String::new();
    for c in &r.cases {
        out.push_str(&format!(
            "{:<16} {:<10} {:<20} {:<18} {}\n",
            c.case_number,
            status_name(c.status),
            category_name(c.category),
            c.department,
            c.subject
        ));
    }
    if r.cases.is_empty() {
        out.push_str("no cases\n");
    }
    if !r.next_page_token.is_empty() {
        out.push_str(&format!("more: --page-token {}\n", r.next_page_token));
    }
    out
}

pub fn department_json(d: &Department) -> Value {
    json!({
        "code": d.code, "name": d.name, "level": level_name(d.level),
        "town": d.area.as_ref().map(|a| a.town.clone()).unwrap_or_default(),
        "village": d.area.as_ref().map(|a| a.village.clone()).unwrap_or_default(),
        "categories": d.categories.iter().map(|c| category_name(*c)).collect::<Vec<_>>(),
        "active": d.active, "open_assignments": d.open_assignments,
    })
}

pub fn department_text(d: &Department) -> String {
    format!(
        "{:<20} {:<8} {:<6} open {:<4} {}{}  [{}]\n",
        d.code,
        level_name(d.level),
        if d.active { "active" } else { "left" },
        d.open_assignments,
        d.name,
        match place(&d.area) {
            p if p.is_empty() => String::new(),
            p => format!(" ({p})"),
        },
        d.categories
            .iter()
            .map(|c| category_name(*c))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub fn assignment_json(a: &Assignment) -> Value {
    json!({
        "assignment_id": a.assignment_id, "case_id": a.case_id, "case_number": a.case_number,
        "department": a.department, "state": state_name(a.state), "reason": a.reason,
        "category": category_name(a.category), "subject": a.subject,
        "assigned_at": show_time(&a.assigned_at), "accept_by": show_time(&a.accept_by),
        "accepted_at": show_time(&a.accepted_at), "handle_by": show_time(&a.handle_by),
        "replied_at": show_time(&a.replied_at), "reply": a.reply, "return_reason": a.return_reason,
    })
}

pub fn assignment_text(a: &Assignment) -> String {
    format!(
        "{}  {:<16} {:<10} {:<18} accept by {}  {}\n",
        a.assignment_id,
        a.case_number,
        state_name(a.state),
        a.department,
        show_time(&a.accept_by),
        a.subject
    )
}

/// `5400000` fen → `54,000.00 yuan`.
pub fn yuan_text(m: &Money) -> String {
    yimen_platform::money::yuan(m.fen)
}

fn alert_kind_name(k: i32) -> String {
    AlertKind::try_from(k)
        .map(|k| short_name("ALERT_KIND_", k.as_str_name()))
        .unwrap_or_else(|_| k.to_string())
}

fn linkage_name(l: i32) -> String {
    Linkage::try_from(l)
        .map(|l| short_name("LINKAGE_", l.as_str_name()))
        .unwrap_or_else(|_| l.to_string())
}

fn mediation_state_name(s: i32) -> String {
    MediationState::try_from(s)
        .map(|s| short_name("MEDIATION_STATE_", s.as_str_name()))
        .unwrap_or_else(|_| s.to_string())
}

fn negative_kind_name(k: i32) -> String {
    NegativeKind::try_from(k)
        .map(|k| short_name("NEGATIVE_KIND_", k.as_str_name()))
        .unwrap_or_else(|_| k.to_string())
}

fn change(c: i64) -> String {
    if c >= 0 {
        format!("+{c}")
    } else {
        c.to_string()
    }
}

fn figures_json(figures: &[Figure]) -> Value {
    json!(
        figures
            .iter()
            .map(|f| json!({"key": f.key, "cases": f.cases, "change": f.change}))
            .collect::<Vec<_>>()
    )
}

pub fn situation_json(s: &Situation) -> Value {
    let period = s.period.unwrap_or_default();
    json!({
        "from": show_time(&period.from), "to": show_time(&period.to),
        "cases": s.cases, "change": s.change, "open": s.open, "overdue": s.overdue,
        "collective": s.collective, "closed": s.closed, "alerts": s.alerts,
        "categories": s.categories.iter().map(|c| json!({
            "category": category_name(c.category), "cases": c.cases, "change": c.change,
        })).collect::<Vec<_>>(),
        "towns": figures_json(&s.towns),
        "departments": figures_json(&s.departments),
        "channels": figures_json(&s.channels),
    })
}

pub fn situation_text(s: &Situation) -> String {
    let period = s.period.unwrap_or_default();
    let mut out = format!(
        "situation {} → {}\n  cases {} ({} against the previous period)   open {}   overdue {}\n  collective {}   closed {}   alerts {}\n",
        show_time(&period.from),
        show_time(&period.to),
        s.cases,
        change(s.change),
        s.open,
        s.overdue,
        s.collective,
        s.closed,
        s.alerts,
    );
    let mut block = |title: &str, rows: Vec<(String, u64, i64)>| {
        if rows.is_empty() {
            return;
        }
        out.push_str(&format!("  {title}:\n"));
        for (key, cases, delta) in rows {
            out.push_str(&format!("    {key:<22} {cases:>5}  ({})\n", change(delta)));
        }
    };
    block(
        "by category",
        s.categories
            .iter()
            .map(|c| (category_name(c.category), c.cases, c.change))
            .collect(),
    );
    let rows = |f: &[Figure]| {
        f.iter()
            .map(|f| (f.key.clone(), f.cases, f.change))
            .collect()
    };
    block("by town", rows(&s.towns));
    block("by department", rows(&s.departments));
    block("by channel", rows(&s.channels));
    out
}

pub fn alert_json(a: &Alert) -> Value {
    json!({
        "alert_id": a.alert_id, "kind": alert_kind_name(a.kind), "case_id": a.case_id,
        "case_number": a.case_number, "category": category_name(a.category), "facts": a.facts,
        "raised_at": show_time(&a.raised_at), "acknowledged": a.acknowledged,
    })
}

pub fn alert_text(a: &Alert) -> String {
    let mut out = format!(
        "{}  {:<18} {:<16} {}{}\n",
        show_time(&a.raised_at),
        alert_kind_name(a.kind),
        a.case_number,
        a.alert_id,
        if a.acknowledged {
            "  (acknowledged)"
        } else {
            ""
        },
    );
    for fact in &a.facts {
        out.push_str(&format!("      - {fact}\n"));
    }
    out
}

pub fn scorecard_json(c: &Scorecard) -> Value {
    json!({
        "department": c.department, "name": c.department_name, "assigned": c.assigned,
        "accepted": c.accepted, "accepted_in_time": c.accepted_in_time, "replied": c.replied,
        "replied_in_time": c.replied_in_time, "returned": c.returned, "evaluated": c.evaluated,
        "satisfied": c.satisfied, "satisfaction_rate": c.satisfaction_rate,
        "closed": c.closed, "reopened": c.reopened,
        "negative_entries": c.negative_entries,
    })
}

/// The header of [`scorecard_text`] rows.
pub const SCORECARD_HEADER: &str = "department             assigned  accepted in time  replied in time  returned  satisfied        negative\n";

pub fn scorecard_text(c: &Scorecard) -> String {
    format!(
        "{:<22} {:>8}  {:>7}/{:<8} {:>7}/{:<7} {:>8}  {:>3}/{:<3} {:>5.0}%  {:>8}\n",
        c.department,
        c.assigned,
        c.accepted_in_time,
        c.accepted,
        c.replied_in_time,
        c.replied,
        c.returned,
        c.satisfied,
        c.evaluated,
        c.satisfaction_rate * 100.0,
        c.negative_entries,
    )
}

pub fn negative_entry_text(e: &NegativeEntry) -> String {
    format!(
        "{}  {:<18} {:<12} {}  {}\n",
        show_time(&e.at),
        e.department,
        negative_kind_name(e.kind),
        if e.case_number.is_empty() {
            &e.case_id
        } else {
            &e.case_number
        },
        e.reason
    )
}

pub fn agreement_text(a: &Agreement) -> String {
    let mut out = format!(
        "{}, {} → {}: {}",
        yuan_text(&a.amount.unwrap_or_default()),
        a.payer,
        a.payee,
        a.terms
    );
    if !a.installments.is_empty() {
        out.push_str(&format!(" ({} installments)", a.installments.len()));
    }
    out
}

pub fn mediation_json(m: &MediationFile) -> Value {
    json!({
        "mediation_id": m.mediation_id, "case_id": m.case_id, "case_number": m.case_number,
        "committee": m.committee, "linkage": linkage_name(m.linkage),
        "state": mediation_state_name(m.state), "category": category_name(m.category),
        "summary": m.summary, "referred_by": m.referred_by, "mediators": m.mediators,
        "sessions": m.sessions.len(),
        "agreement": m.agreement.as_ref().map(|a| json!({
            "amount": a.amount.as_ref().map(yuan), "payer": a.payer, "payee": a.payee,
            "terms": a.terms,
            "installments": a.installments.iter().map(|i| json!({
                "due": show_time(&i.due), "amount": i.amount.as_ref().map(yuan),
            })).collect::<Vec<_>>(),
        })),
        "opened_at": show_time(&m.opened_at), "concluded_at": show_time(&m.concluded_at),
    })
}

pub fn mediation_text(m: &MediationFile) -> String {
    let mut out = format!(
        "{}  {:<16} {:<18} {:<10} {:<15} {}\n",
        m.mediation_id,
        m.case_number,
        m.committee,
        linkage_name(m.linkage),
        mediation_state_name(m.state),
        m.summary
    );
    if let Some(a) = &m.agreement {
        out.push_str(&format!("      agreement: {}\n", agreement_text(a)));
    }
    out
}

pub fn committee_text(c: &Committee) -> String {
    format!(
        "{:<18} {}  [{}]\n",
        c.code,
        c.name,
        c.categories
            .iter()
            .map(|c| category_name(*c))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Prints `value` as JSON or `text`.
pub fn print(json_mode: bool, value: Value, text: String) {
    if json_mode {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        print!("{text}");
    }
}

pub fn request<T>(message: T) -> Request<T> {
    Request::new(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_amounts_parse_exactly_to_fen() {
        assert_eq!(parse_yuan("54000").unwrap().fen, 5_400_000);
        assert_eq!(parse_yuan("12.5").unwrap().fen, 1250);
        assert_eq!(parse_yuan("0.07").unwrap().fen, 7);
        assert!(parse_yuan("1.234").is_err());
        assert!(parse_yuan("abc").is_err());
    }

    #[test]
    fn short_names_map_to_proto_enums() {
        assert_eq!(
            parse_channel("court-referral").unwrap(),
            Channel::CourtReferral
        );
        assert_eq!(
            parse_category("labour-wages").unwrap(),
            Category::LabourWages
        );
        assert!(parse_category("nonsense").is_err());
        assert!(all_categories().contains(&"civil-commercial".to_string()));
    }

    #[test]
    fn person_is_name_then_optional_id_and_phone() {
        let p = parse_person("张三, 420881199001011234");
        assert_eq!(p.name, "张三");
        assert_eq!(p.id_number, "420881199001011234");
        assert_eq!(p.phone, "");
    }
}
