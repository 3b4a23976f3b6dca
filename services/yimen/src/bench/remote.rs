//! `yimen bench --bus URL`: the load against a running installation (any one: five `serve`
//! processes, a cluster), its SubmitCase answers timed at the caller and each case's
//! `case.assigned.*` watched on the broker, so the figure is the whole way from the front door
//! to the department's queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use prost::Message as _;

use super::raw::RawLimits;
use super::{Load, Quantiles, Reads, Submitted, ms, read_back, submit};
use crate::client::{Clients, Urls};
use crate::progress::Progress;

/// Where to watch.
pub struct Broker {
    pub url: String,
    /// The installation's `bus.prefix`.
    pub prefix: String,
}

/// What one run against an installation measured.
pub struct Report {
    pub load: Load,
    pub intake: String,
    pub submit_elapsed: Duration,
    pub submit: Quantiles,
    /// Calls intake refused as overloaded (each tried again after the advised wait).
    pub refused: usize,
    /// Cases whose assignment was seen, and from the first call until the last was.
    pub assigned: usize,
    pub assigned_elapsed: Duration,
    /// From each SubmitCase call's start to its case's first `case.assigned.*`.
    pub intake_to_assigned: Quantiles,
    /// Reading the cases back.
    pub reads: Option<Reads>,
    pub raw: Option<RawLimits>,
    /// What the departments' WatchAssignments streams received (`--watch`).
    pub feeds: Option<Feeds>,
}

/// Every active department followed with WatchAssignments through the run, as the
/// departments' own systems would.
pub struct Feeds {
    pub departments: usize,
    /// Cases whose assignment reached a department's stream.
    pub cases: usize,
    /// From each SubmitCase call's start to its case's first assignment on a stream.
    pub latency: Quantiles,
}

impl Report {
    pub fn assigned_per_sec(&self) -> f64 {
        self.assigned as f64 / self.assigned_elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let offered = match self.load.rate {
            Some(rate) => format!("offered at {rate:.0}/s"),
            None => "all out".into(),
        };
        writeln!(
            f,
            "{} cases, {} concurrent callers, {offered}, against {}",
            self.load.cases, self.load.concurrency, self.intake
        )?;
        let submitted =
            self.load.cases as f64 / self.submit_elapsed.as_secs_f64().max(f64::EPSILON);
        writeln!(
            f,
            "  SubmitCase: {submitted:.0} cases/s; latency {}; {} answered RESOURCE_EXHAUSTED and retried",
            self.submit, self.refused
        )?;
        if let Some(note) = self
            .load
            .rate
            .and_then(|rate| behind_the_pace(rate, submitted))
        {
            writeln!(f, "  {note}")?;
        }
        writeln!(
            f,
            "  intake→assigned: {}/{} cases in {:.2} s ({:.0} cases/s); latency {}",
            self.assigned,
            self.load.cases,
            self.assigned_elapsed.as_secs_f64(),
            self.assigned_per_sec(),
            self.intake_to_assigned
        )?;
        if let Some(feeds) = &self.feeds {
            writeln!(
                f,
                "  WatchAssignments ({} departments followed): {}/{} cases reached a stream; \
                 intake→stream latency {}",
                feeds.departments, feeds.cases, self.load.cases, feeds.latency
            )?;
        }
        if let Some(reads) = &self.reads {
            write!(f, "{reads}")?;
        }
        if let Some(raw) = &self.raw {
            write!(f, "{raw}")?;
            writeln!(
                f,
                "  yimen reaches {:.1}% of it ({:.0} of {:.0} cases/s); SubmitCase p99 {:.1} ms",
                100.0 * self.assigned_per_sec() / raw.cases_per_sec().max(f64::EPSILON),
                self.assigned_per_sec(),
                raw.cases_per_sec(),
                ms(self.submit.p99)
            )?;
        }
        Ok(())
    }
}

/// When each case was first seen, by case id.
type Seen = Arc<Mutex<HashMap<String, Instant>>>;

/// Watches the broker (and, with `follow_feeds`, every department's WatchAssignments), puts
/// `load` through intake and waits until every case was assigned (or `load.patience` ran out:
/// then the report says how many were).
pub async fn run(
    urls: &Urls,
    broker: &Broker,
    load: Load,
    raw: Option<RawLimits>,
    follow_feeds: bool,
    progress: Progress,
) -> anyhow::Result<Report> {
    let clients = Clients::connect(urls).await?;
    let seen: Seen = Arc::default();
    let fed: Seen = Arc::default();
    let (followers, departments) = if follow_feeds {
        follow_departments(&clients, fed.clone()).await?
    } else {
        (Vec::new(), 0)
    };
    let connection = Connection::connect(&broker.url, ConnectionProperties::default())
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot watch the broker at {}: {e}",
                yimen_platform::bus::redact_url(&broker.url)
            )
        })?;
    let watching = watch(&connection, &broker.prefix, seen.clone()).await?;

    let submitted = submit(&clients, load, progress.clone()).await?;
    progress.say(&format!(
        "  all {} submitted in {:.2} s; watching for their assignments",
        load.cases,
        submitted.elapsed.as_secs_f64()
    ));
    let deadline = Instant::now() + load.patience;
    loop {
        let assigned = seen_of(&submitted, &seen);
        progress.step("assigned", assigned as u64, load.cases as u64);
        let fed_all = !follow_feeds || seen_of(&submitted, &fed) == load.cases;
        if (assigned == load.cases && fed_all) || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    progress.finish("assigned");
    watching.abort();
    followers.iter().for_each(tokio::task::JoinHandle::abort);
    let _ = connection.close(200, "OK".into()).await;
    let reads = read_back(&clients, &submitted.calls, load, progress).await?;

    let (latencies, last) = latencies_of(&submitted, &seen);
    let feeds = follow_feeds.then(|| {
        let (latencies, _) = latencies_of(&submitted, &fed);
        Feeds {
            departments,
            cases: latencies.len(),
            latency: Quantiles::of(latencies),
        }
    });
    Ok(Report {
        load,
        intake: urls.intake.clone(),
        submit_elapsed: submitted.elapsed,
        submit: Quantiles::of(submitted.calls.iter().map(|c| c.latency).collect()),
        refused: submitted.refused,
        assigned: latencies.len(),
        assigned_elapsed: last.saturating_duration_since(submitted.started),
        intake_to_assigned: Quantiles::of(latencies),
        reads,
        raw,
        feeds,
    })
}

/// From each call's start to when its case was seen, for the cases seen; and the last time one
/// was.
fn latencies_of(submitted: &Submitted, seen: &Seen) -> (Vec<Duration>, Instant) {
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    let mut latencies = Vec::with_capacity(submitted.calls.len());
    let mut last = submitted.started;
    for call in &submitted.calls {
        if let Some(at) = seen.get(&call.case_id) {
            latencies.push(at.saturating_duration_since(call.at));
            last = last.max(*at);
        }
    }
    (latencies, last)
}

/// Follows every active department's WatchAssignments from its start, noting when each case
/// first reaches one; answers the streams' tasks and how many departments they follow.
async fn follow_departments(
    clients: &Clients,
    fed: Seen,
) -> anyhow::Result<(Vec<tokio::task::JoinHandle<()>>, usize)> {
    let departments = clients
        .dispatch
        .clone()
        .list_departments(yimen_proto::v1::ListDepartmentsRequest::default())
        .await?
        .into_inner()
        .departments;
    let mut followers = Vec::with_capacity(departments.len());
    for department in &departments {
        let mut stream = clients
            .dispatch
            .clone()
            .watch_assignments(yimen_proto::v1::ListAssignmentsRequest {
                department: department.code.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        let fed = fed.clone();
        followers.push(tokio::spawn(async move {
            while let Some(Ok(assignment)) = stream.next().await {
                let at = Instant::now();
                fed.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(assignment.case_id)
                    .or_insert(at);
            }
        }));
    }
    Ok((followers, departments.len()))
}

fn seen_of(submitted: &Submitted, seen: &Mutex<HashMap<String, Instant>>) -> usize {
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    submitted
        .calls
        .iter()
        .filter(|c| seen.contains_key(&c.case_id))
        .count()
}

/// A queue of the bench's own (exclusive: the broker deletes it when the bench's connection
/// ends) bound to every `case.assigned.*`; records when each case was first assigned.
async fn watch(
    connection: &Connection,
    prefix: &str,
    seen: Arc<Mutex<HashMap<String, Instant>>>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let channel = connection.create_channel().await?;
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let exchange = format!("{prefix}{}", yimen_platform::bus::EVENTS_EXCHANGE);
    channel
        .queue_bind(
            queue.name().clone(),
            exchange.as_str().into(),
            "case.assigned.#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot watch {exchange} (is the installation migrated?): {e}")
        })?;
    let mut consumer = channel
        .basic_consume(
            queue.name().clone(),
            "yimen-bench".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(tokio::spawn(async move {
        while let Some(Ok(delivery)) = consumer.next().await {
            let at = Instant::now();
            if let Ok(event) = yimen_proto::v1::Event::decode(delivery.data.as_slice()) {
                seen.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(event.case_id)
                    .or_insert(at);
            }
        }
    }))
}

/// What to say when a paced load fell short of its pace: each caller waits for its answer
/// before taking the next case, so slow answers hold the callers back and less than the rate
/// was offered. `None` within 5% of the rate.
fn behind_the_pace(rate: f64, submitted: f64) -> Option<String> {
    (submitted < rate * 0.95).then(|| {
        format!(
            "the callers could not keep the pace: {submitted:.0} of {rate:.0} cases/s were \
             offered, as each waits for its answer (more callers: --concurrency, \
             BENCH_CONCURRENCY)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paced_load_that_fell_short_of_its_pace_says_so() {
        let note = behind_the_pace(200.0, 140.0).expect("140 of 200 is short");
        assert!(note.contains("140 of 200 cases/s"), "{note}");
        assert_eq!(behind_the_pace(200.0, 195.0), None, "within 5% of the rate");
    }
}
