//! The reads behind the AnalysisService: each checks its request, reads the store on one
//! connection and lets the domain count, score and recommend.

use std::collections::{BTreeMap, HashMap, VecDeque};

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;
use yimen_platform::db::{Db, now_millis};
use yimen_platform::error::{Error, Violations};
use yimen_platform::time::{DAY_MILLIS, millis, timestamp};
use yimen_platform::validate;
use yimen_platform::watch::Wake;
use yimen_proto::v1::{self as pb, AlertKind, Category};

use crate::domain::recommend::{self, CategoryTrend};
use crate::domain::risk::{self, Signs};
use crate::domain::{AlertFilter, Period, figures, is_overdue, labels, listing};
use crate::domain::{DEFAULT_DAYS, TREND_DAYS_MAX};
use crate::store::{self, By, Count};
use yimen_platform::period::per_day;

/// Hotspots answered when the request names no limit, and the most it may ask for.
pub const HOTSPOTS_DEFAULT: u32 = 10;
pub const HOTSPOTS_MAX: u32 = 100;
/// How far back each look reaches, so an alert whose transaction committed a little after a
/// later one is still sent (each alert once).
const WATCH_LOOKBACK_MILLIS: i64 = 5_000;

fn period(requested: Option<&pb::Period>, now: i64) -> Result<Period, Error> {
    Ok(Period::parse_or_last_days(requested, now, DEFAULT_DAYS)?)
}

/// GetSituation.
pub async fn situation(
    db: &Db,
    request: &pb::GetSituationRequest,
    threshold: u32,
) -> Result<pb::Situation, Error> {
    let now = now_millis();
    let period = period(request.period.as_ref(), now)?;
    let mut conn = db.pool().acquire().await?;
    situation_of(&mut conn, period, now, threshold).await
}

async fn situation_of(
    conn: &mut sqlx::AnyConnection,
    period: Period,
    now: i64,
    threshold: u32,
) -> Result<pb::Situation, Error> {
    let before = period.previous();
    let cases = store::count_in(conn, Count::Registered, &period).await?;
    let cases_before = store::count_in(conn, Count::Registered, &before).await?;
    let categories = figures(
        &store::registered_by(conn, By::Category, &period).await?,
        &store::registered_by(conn, By::Category, &before).await?,
    );
    let towns = figures(
        &store::registered_by_town(conn, &period).await?,
        &store::registered_by_town(conn, &before).await?,
    );
    let departments = figures(
        &store::assigned_by_department(conn, &period).await?,
        &store::assigned_by_department(conn, &before).await?,
    );
    let by_channel = |counts: BTreeMap<i64, u64>| -> BTreeMap<String, u64> {
        let mut keyed = BTreeMap::new();
        for (channel, n) in counts {
            *keyed.entry(labels::channel_key(channel)).or_insert(0) += n;
        }
        keyed
    };
    let channels = figures(
        &by_channel(store::registered_by(conn, By::Channel, &period).await?),
        &by_channel(store::registered_by(conn, By::Channel, &before).await?),
    );
    let figure = |f: crate::domain::Figure<String>| pb::Figure {
        key: f.key,
        cases: f.cases,
        change: f.change,
    };
    Ok(pb::Situation {
        period: Some(period.to_proto()),
        cases,
        change: crate::domain::change(cases, cases_before),
        open: store::open_cases(conn).await?,
        overdue: store::overdue_cases(conn, now).await?,
        categories: categories
            .into_iter()
            .map(|f| pb::CategoryFigure {
                category: labels::category_of(f.key) as i32,
                cases: f.cases,
                change: f.change,
            })
            .collect(),
        towns: towns.into_iter().map(figure).collect(),
        departments: departments.into_iter().map(figure).collect(),
        channels: channels.into_iter().map(figure).collect(),
        collective: store::count_in(conn, Count::Collective { threshold }, &period).await?,
        closed: store::count_in(conn, Count::Closed, &period).await?,
        alerts: store::count_in(conn, Count::Alerts, &period).await?,
        settled_at_desk: store::count_in(conn, Count::SettledAtDesk, &period).await?,
    })
}

/// GetTrends: cases per China day of the period, every day present.
pub async fn trends(db: &Db, request: &pb::GetTrendsRequest) -> Result<pb::Trends, Error> {
    let mut v = Violations::new();
    let period = v.check(Period::parse_or_last_days(
        request.period.as_ref(),
        now_millis(),
        DEFAULT_DAYS,
    ));
    v.check(validate::known_or_any::<Category>(
        "category",
        request.category,
    ));
    if let Some(p) = &period
        && p.millis() > TREND_DAYS_MAX * DAY_MILLIS
    {
        v.add(
            "period",
            format!("a trend covers at most {TREND_DAYS_MAX} days"),
        );
    }
    let period = v.finish_with(period)?;
    let mut conn = db.pool().acquire().await?;
    let times = store::registration_times(&mut conn, &period, i64::from(request.category)).await?;
    Ok(pb::Trends {
        points: per_day(&period, times)
            .into_iter()
            .map(|(day, cases)| pb::TrendPoint {
                day: Some(timestamp(day)),
                cases,
            })
            .collect(),
    })
}

/// GetHotspots: the towns with the most cases registered in the period.
pub async fn hotspots(db: &Db, request: &pb::GetHotspotsRequest) -> Result<pb::Hotspots, Error> {
    let period = period(request.period.as_ref(), now_millis())?;
    let limit = match request.limit {
        0 => HOTSPOTS_DEFAULT,
        n => n.min(HOTSPOTS_MAX),
    } as usize;
    let mut conn = db.pool().acquire().await?;
    let mut towns: Vec<(String, u64)> = store::registered_by_town(&mut conn, &period)
        .await?
        .into_iter()
        .filter(|(town, _)| !town.is_empty())
        .collect();
    towns.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    towns.truncate(limit);
    Ok(pb::Hotspots {
        hotspots: towns
            .into_iter()
            .map(|(town, cases)| pb::Hotspot {
                location: Some(pb::Location {
                    town,
                    village: String::new(),
                }),
                cases,
            })
            .collect(),
    })
}

/// ListAlerts: newest first, page by page.
pub async fn list_alerts(
    db: &Db,
    request: &pb::ListAlertsRequest,
) -> Result<pb::ListAlertsResponse, Error> {
    let (filter, page) = listing::parse_listing(request)?;
    let mut conn = db.pool().acquire().await?;
    let (alerts, next_page_token) = store::list_alerts(&mut conn, &filter, &page).await?;
    Ok(pb::ListAlertsResponse {
        alerts,
        next_page_token,
    })
}

/// AcknowledgeAlert: idempotent; the alert as it stands after.
pub async fn acknowledge_alert(
    db: &Db,
    request: &pb::AcknowledgeAlertRequest,
) -> Result<pb::Alert, Error> {
    let alert_id = validate::uuid("alert_id", &request.alert_id)?;
    let mut conn = db.pool().acquire().await?;
    if !store::acknowledge_alert(&mut conn, &alert_id, now_millis()).await? {
        return Err(Error::not_found(format!("no alert {alert_id}")));
    }
    store::alert(&mut conn, &alert_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("no alert {alert_id}")))
}

/// GetCaseRisk: the case's score and the factors behind it.
pub async fn case_risk(db: &Db, request: &pb::GetCaseRiskRequest) -> Result<pb::CaseRisk, Error> {
    let case_id = validate::required("case_id", &request.case_id)?;
    let mut conn = db.pool().acquire().await?;
    let case = store::case(&mut conn, case_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("analysis knows no case {case_id}")))?;
    let kinds = store::alert_kinds_of(&mut conn, case_id).await?;
    let signs = Signs {
        collective: kinds.contains(&AlertKind::Collective),
        repeat_petitioner: kinds.contains(&AlertKind::RepeatPetitioner),
        no_owner: kinds.contains(&AlertKind::NoOwner),
        returns: case.returns,
        overdue: !case.closed && is_overdue(case.accept_by, case.handle_by, now_millis()),
        reopened: case.reopened,
        in_mediation: case.in_mediation,
    };
    let (score, factors) = risk::assess(&signs);
    Ok(pb::CaseRisk {
        case_id: case.case_id,
        score,
        factors,
    })
}

/// GetRecommendations: the rules of `domain::recommend` over the period's situation.
pub async fn recommendations(
    db: &Db,
    request: &pb::GetRecommendationsRequest,
    threshold: u32,
) -> Result<pb::Recommendations, Error> {
    let now = now_millis();
    let period = period(request.period.as_ref(), now)?;
    let mut conn = db.pool().acquire().await?;
    let situation = situation_of(&mut conn, period, now, threshold).await?;
    let mut categories = Vec::new();
    for figure in &situation.categories {
        let mut trend = CategoryTrend {
            category: Category::try_from(figure.category).unwrap_or(Category::Unspecified),
            current: figure.cases,
            previous: u64::try_from(figure.cases as i64 - figure.change).unwrap_or(0),
            handler: None,
        };
        if trend.is_rising() {
            trend.handler = store::latest_handler(&mut conn, i64::from(figure.category)).await?;
        }
        categories.push(trend);
    }
    let inputs = recommend::Inputs {
        categories,
        open_collective: store::open_collective(&mut conn, threshold).await?,
        overdue: situation.overdue,
        top_town: situation
            .towns
            .iter()
            .find(|t| !t.key.is_empty())
            .map(|t| (t.key.clone(), t.cases)),
    };
    Ok(pb::Recommendations {
        items: recommend::recommend(&inputs),
    })
}

/// WatchAlerts: alerts raised from the call on, looked for after each commit of analysis (the
/// consumer raising them; `platform::watch::Wake`); the stream ends when the client goes
/// away (tonic drops it), the store fails, or the process stops.
pub fn watch_alerts(
    db: Db,
    shutdown: CancellationToken,
    request: &pb::ListAlertsRequest,
) -> Result<BoxStream<'static, Result<pb::Alert, Status>>, Error> {
    let filter = AlertFilter::parse(request)?;
    let start = now_millis();
    let watch = Watch {
        wake: Wake::new(&db, shutdown),
        db,
        filter,
        start,
        newest: start,
        sent: HashMap::new(),
        ready: VecDeque::new(),
        looked: false,
    };
    Ok(futures::stream::unfold(Some(watch), |watch| async move {
        let mut watch = watch?;
        loop {
            if watch.wake.stopped() {
                return None;
            }
            if let Some(alert) = watch.ready.pop_front() {
                return Some((Ok(alert), Some(watch)));
            }
            if watch.looked && !watch.wake.next().await {
                return None;
            }
            watch.wake.seen();
            watch.looked = true;
            if let Err(e) = watch.look().await {
                return Some((Err(Status::from(e)), None));
            }
        }
    })
    .boxed())
}

struct Watch {
    db: Db,
    filter: AlertFilter,
    /// Nothing raised before the call is sent.
    start: i64,
    /// The latest raised_at sent so far.
    newest: i64,
    /// Alerts sent within the look-back window, by id, with their raised_at.
    sent: HashMap<String, i64>,
    ready: VecDeque<pb::Alert>,
    wake: Wake,
    /// Looked at least once: from then on, each look waits for a commit.
    looked: bool,
}

impl Watch {
    async fn look(&mut self) -> Result<(), Error> {
        let since = self.start.max(self.newest - WATCH_LOOKBACK_MILLIS);
        let mut conn = self.db.pool().acquire().await?;
        let alerts = store::alerts_since(&mut conn, &self.filter, since).await?;
        drop(conn);
        for alert in alerts {
            let raised_at = alert.raised_at.as_ref().map_or(0, millis);
            if self
                .sent
                .insert(alert.alert_id.clone(), raised_at)
                .is_none()
            {
                self.newest = self.newest.max(raised_at);
                self.ready.push_back(alert);
            }
        }
        let horizon = self.newest - WATCH_LOOKBACK_MILLIS;
        self.sent.retain(|_, at| *at >= horizon);
        Ok(())
    }
}
