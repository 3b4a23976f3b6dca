//! The machine's own limits, measured in the same run as the benchmark so yimen's figure is a
//! ratio, not an absolute number that means nothing on other hardware: durable single-row
//! commits a second on PostgreSQL, and persistent messages a second that RabbitMQ takes with
//! publisher confirms into a quorum queue and hands to a consumer that acknowledges them.
//! Everything it creates (one table, one queue) is removed when it ends.

use crate::progress::Progress;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};

/// Clients committing at once, as in the issue that set the target.
pub const COMMIT_CLIENTS: usize = 32;
/// Channels publishing at once, and the confirms each may wait for.
const PUBLISHERS: usize = 4;
const CONFIRM_WINDOW: usize = 64;
/// The size of an event of the pipeline, about.
const MESSAGE_BYTES: usize = 256;

/// What the machine did in the same run.
#[derive(Debug, Clone, Copy)]
pub struct RawLimits {
    pub commits_per_sec: f64,
    pub messages_per_sec: f64,
}

impl RawLimits {
    /// The cases a second of the minimal path of one case, step after step: two commits
    /// (intake registers it, dispatch assigns it) and two messages (`case.registered`,
    /// `case.assigned.*`).
    pub fn cases_per_sec(&self) -> f64 {
        1.0 / (2.0 / self.commits_per_sec.max(f64::EPSILON)
            + 2.0 / self.messages_per_sec.max(f64::EPSILON))
    }
}

impl std::fmt::Display for RawLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "  raw limits (same run): {:.0} durable single-row commits/s ({COMMIT_CLIENTS} clients); \
             {:.0} persistent, confirmed, consumed messages/s (quorum queue)",
            self.commits_per_sec, self.messages_per_sec
        )?;
        writeln!(
            f,
            "  minimal path of a case (2 commits + 2 messages): {:.0} cases/s",
            self.cases_per_sec()
        )
    }
}

/// Measures both limits for `window` each.
pub async fn measure(
    database_url: &str,
    bus_url: &str,
    prefix: &str,
    window: Duration,
    progress: &Progress,
) -> anyhow::Result<RawLimits> {
    progress.say(&format!(
        "  measuring the database's commits/s for {window:?}"
    ));
    let commits_per_sec = commits(database_url, window).await?;
    progress.say(&format!(
        "  measuring the broker's confirmed, consumed messages/s for {window:?}"
    ));
    let messages_per_sec = messages(bus_url, prefix, window).await?;
    Ok(RawLimits {
        commits_per_sec,
        messages_per_sec,
    })
}

async fn commits(url: &str, window: Duration) -> anyhow::Result<f64> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(COMMIT_CLIENTS as u32)
        .connect(url)
        .await
        .context("connect to the database to measure its commits")?;
    let table = format!("yimen_bench_raw_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {table} (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)"
    )))
    .execute(&pool)
    .await?;
    let insert = format!("INSERT INTO {table} (payload) VALUES ($1)");
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..COMMIT_CLIENTS)
        .map(|_| {
            let (pool, insert, done) = (pool.clone(), insert.clone(), done.clone());
            tokio::spawn(async move {
                while started.elapsed() < window {
                    // Autocommit: each insert is a durable commit of its own.
                    sqlx::query(sqlx::AssertSqlSafe(insert.as_str()))
                        .bind("x".repeat(64))
                        .execute(&pool)
                        .await?;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<_, sqlx::Error>(())
            })
        })
        .collect();
    let mut failed = None;
    for client in clients {
        if let Err(e) = client.await? {
            failed.get_or_insert(e);
        }
    }
    let elapsed = started.elapsed();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
        .execute(&pool)
        .await?;
    pool.close().await;
    if let Some(e) = failed {
        return Err(e).context("insert while measuring commits");
    }
    Ok(done.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64())
}

async fn messages(url: &str, prefix: &str, window: Duration) -> anyhow::Result<f64> {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .context("connect to the broker to measure its messages")?;
    let queue = format!("{prefix}yimen.bench.raw.{}", uuid::Uuid::now_v7().simple());
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    // Gone a minute after the bench, even if it is killed before it deletes the queue.
    arguments.insert("x-expires".into(), AMQPValue::LongLongInt(60_000));
    let admin = connection.create_channel().await?;
    admin
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            arguments,
        )
        .await?;
    let measured = publish_and_consume(&connection, &queue, window).await;
    admin
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    connection.close(200, "OK".into()).await?;
    measured
}

async fn publish_and_consume(
    connection: &Connection,
    queue: &str,
    window: Duration,
) -> anyhow::Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let consumed = Arc::new(AtomicU64::new(0));
    let channel = connection.create_channel().await?;
    channel.basic_qos(256, BasicQosOptions::default()).await?;
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let consuming = tokio::spawn({
        let (stop, consumed) = (stop.clone(), consumed.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                let next = tokio::time::timeout(Duration::from_millis(200), consumer.next()).await;
                let Ok(Some(delivery)) = next else { continue };
                delivery?.ack(BasicAckOptions::default()).await?;
                consumed.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, lapin::Error>(consumer)
        }
    });
    let started = Instant::now();
    let mut publishers = Vec::new();
    for _ in 0..PUBLISHERS {
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let (queue, stop) = (queue.to_string(), stop.clone());
        publishers.push(tokio::spawn(async move {
            let body = vec![b'x'; MESSAGE_BYTES];
            let mut pending = std::collections::VecDeque::new();
            while !stop.load(Ordering::Relaxed) {
                if pending.len() >= CONFIRM_WINDOW
                    && let Some(confirm) = pending.pop_front()
                {
                    confirm.await?;
                }
                let confirm = channel
                    .basic_publish(
                        "".into(),
                        queue.as_str().into(),
                        BasicPublishOptions::default(),
                        &body,
                        BasicProperties::default().with_delivery_mode(2),
                    )
                    .await?;
                pending.push_back(confirm);
            }
            for confirm in pending {
                confirm.await?;
            }
            Ok::<_, lapin::Error>(())
        }));
    }
    tokio::time::sleep(window).await;
    let messages = consumed.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for publisher in publishers {
        publisher.await??;
    }
    // Cancelled and closed before the queue is deleted: a consumer merely dropped is cancelled
    // in the background, and the broker's cancel of a deleted queue's consumer can cross it.
    let consumer = consuming.await??;
    channel
        .basic_cancel(
            consumer.tag().as_str().into(),
            BasicCancelOptions::default(),
        )
        .await?;
    drop(consumer);
    channel.close(200, "OK".into()).await?;
    Ok(messages as f64 / elapsed.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimal_path_adds_two_commits_and_two_messages_per_case() {
        // The figures of the issue that set the target: 22.2k commits/s and 18.8k messages/s
        // are about 5,090 cases/s.
        let raw = RawLimits {
            commits_per_sec: 22_200.0,
            messages_per_sec: 18_800.0,
        };
        assert_eq!(raw.cases_per_sec().round(), 5090.0);
        let only_commits = RawLimits {
            commits_per_sec: 1_000.0,
            messages_per_sec: f64::INFINITY,
        };
        assert_eq!(only_commits.cases_per_sec().round(), 500.0);
    }
}
