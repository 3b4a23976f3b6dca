//! Storage: one interface over PostgreSQL (production: each service its own schema) and SQLite
//! (standalone: each service its own file), through sqlx's `Any` driver, so a service's store is
//! written once and its contract suite runs against both.
//!
//! Portable SQL, by convention: `$1`-style placeholders (SQLite accepts them), TEXT for ids,
//! BIGINT for timestamps (unix milliseconds) and money (fen), BIGINT 0/1 for flags, and
//! `ON CONFLICT ... DO NOTHING` for idempotent inserts. Stores read rows into private
//! `#[derive(sqlx::FromRow)]` structs (flags through [`Flag`]) and convert them into their
//! domain or proto types.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, ConnectOptions, Executor};
use tokio::sync::Notify;

pub use sqlx::Any;

/// A transaction on a service's store. It reads and writes as the connection it holds (it
/// dereferences to one), and knows whether it wrote an event to the outbox, so that its commit
/// wakes the outbox relay only then ([`Db::commit`]).
pub struct Tx {
    inner: sqlx::Transaction<'static, sqlx::Any>,
    enqueued: bool,
}

impl Tx {
    /// Notes that this transaction wrote an event to the outbox (`outbox::enqueue`).
    pub(crate) fn note_enqueued(&mut self) {
        self.enqueued = true;
    }

    /// Commits without the business side of [`Db::commit`] (no audit entry, nobody woken):
    /// for the platform's and stores' own bookkeeping, such as a relay's claim.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.inner.commit().await
    }

    /// Rolls back now (dropping a transaction rolls it back too, later).
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.inner.rollback().await
    }
}

impl std::ops::Deref for Tx {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

/// The platform's own tables (outbox, inbox, audit trail), migrated into every service's
/// store, in the same shape as a service's ([`Migrations`]).
static PLATFORM: Migrations = Migrations {
    shared: &PLATFORM_SHARED,
    postgres: Some(&PLATFORM_POSTGRES),
    sqlite: Some(&PLATFORM_SQLITE),
};
static PLATFORM_SHARED: Migrator = sqlx::migrate!("migrations/shared");
static PLATFORM_POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
static PLATFORM_SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://user@host:5432/db` (each service uses its own schema in that database) or
    /// `sqlite://DIR` (each service uses the file `DIR/<service>.db`, created when missing).
    pub url: String,
    /// Pool size per service (PostgreSQL; SQLite always uses one writer connection).
    pub max_connections: u32,
    /// How long a caller waits for a connection before the call fails as unavailable.
    pub acquire_timeout_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://data".into(),
            max_connections: 10,
            acquire_timeout_secs: 5,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

static NO_MIGRATIONS: Migrator = Migrator::DEFAULT;

/// SQLite's read connections beside its one writer ([`Db::reads`]).
const SQLITE_READERS: u32 = 4;

/// A service's schema: the migrations written once for both backends, and those a dialect
/// needs of its own (DDL that differs, such as an auto-increment column). Versions are unique
/// across the three sets; service migrations are numbered from 100 so they never collide with
/// the platform's. Built with [`migrations!`](crate::migrations).
#[derive(Clone, Copy)]
pub struct Migrations {
    pub shared: &'static Migrator,
    pub postgres: Option<&'static Migrator>,
    pub sqlite: Option<&'static Migrator>,
}

impl Migrations {
    /// No tables of a service's own (tests of the platform's tables).
    pub const NONE: Migrations = Migrations {
        shared: &NO_MIGRATIONS,
        postgres: None,
        sqlite: None,
    };

    /// Every migration `backend` runs, in version order.
    pub fn for_backend(&self, backend: Backend) -> Migrator {
        let forked = match backend {
            Backend::Postgres => self.postgres,
            Backend::Sqlite => self.sqlite,
        };
        let mut all: Vec<_> = self
            .shared
            .iter()
            .chain(forked.into_iter().flat_map(|m| m.iter()))
            .cloned()
            .collect();
        all.sort_by_key(|m| m.version);
        Migrator::with_migrations(all)
    }
}

/// The [`Migrations`] of the calling crate: `migrations/shared/` for both backends and, with
/// `forked`, `migrations/postgres/` and `migrations/sqlite/` for what each dialect writes its own
/// way.
#[macro_export]
macro_rules! migrations {
    () => {
        $crate::db::Migrations {
            shared: {
                static SHARED: ::sqlx::migrate::Migrator = ::sqlx::migrate!("migrations/shared");
                &SHARED
            },
            postgres: None,
            sqlite: None,
        }
    };
    (forked) => {
        $crate::db::Migrations {
            shared: {
                static SHARED: ::sqlx::migrate::Migrator = ::sqlx::migrate!("migrations/shared");
                &SHARED
            },
            postgres: Some({
                static POSTGRES: ::sqlx::migrate::Migrator =
                    ::sqlx::migrate!("migrations/postgres");
                &POSTGRES
            }),
            sqlite: Some({
                static SQLITE: ::sqlx::migrate::Migrator = ::sqlx::migrate!("migrations/sqlite");
                &SQLITE
            }),
        }
    };
}

/// A service's store: its pool, which backend it is, the outbox relay's and live streams'
/// wake-up, and how long transactions have been waiting for a connection.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    /// Connections for reads outside any transaction ([`Db::reads`]): on PostgreSQL the pool
    /// itself, on SQLite a few connections of their own beside the one writer.
    reads: AnyPool,
    backend: Backend,
    service: &'static str,
    outbox_ready: Arc<Notify>,
    /// Bumped after every commit: live streams (`platform::watch`) wake on it and read what
    /// they have not sent yet.
    commits: Arc<tokio::sync::watch::Sender<u64>>,
    /// The longest wait for a connection of a transaction begun since it was last taken
    /// ([`Db::take_longest_wait`]), in microseconds.
    longest_wait: Arc<AtomicU64>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("service", &self.service)
            .field("backend", &self.backend)
            .finish()
    }
}

impl Db {
    /// Connects the store of `service` (a lowercase identifier, used as schema or file name).
    pub async fn connect(config: &DatabaseConfig, service: &'static str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        anyhow::ensure!(
            service.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "service name `{service}` must be lowercase letters"
        );
        let acquire = Duration::from_secs(config.acquire_timeout_secs.max(1));
        let (pool, reads, backend) = if config.url.starts_with("postgres://")
            || config.url.starts_with("postgresql://")
        {
            // The schema must exist before connections point their search_path at it.
            let mut admin = AnyConnectOptions::from_str(&config.url)?.connect().await?;
            admin
                .execute(sqlx::AssertSqlSafe(format!(
                    "CREATE SCHEMA IF NOT EXISTS {service}"
                )))
                .await?;
            drop(admin);
            let pool = AnyPoolOptions::new()
                .max_connections(config.max_connections.max(1))
                .acquire_timeout(acquire)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        conn.execute(sqlx::AssertSqlSafe(format!("SET search_path TO {service}")))
                            .await?;
                        Ok(())
                    })
                })
                .connect(&config.url)
                .await?;
            (pool.clone(), pool, Backend::Postgres)
        } else if let Some(dir) = config.url.strip_prefix("sqlite://") {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).map_err(|e| {
                anyhow::anyhow!("cannot create data directory {}: {e}", dir.display())
            })?;
            let file = dir.join(format!("{service}.db"));
            let url = format!("sqlite://{}?mode=rwc", file.display());
            // One connection: SQLite has one writer, and a single connection never meets
            // `database is locked` between our own transactions.
            let pool = AnyPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(acquire.max(Duration::from_secs(30)))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect(&url)
                .await?;
            // Readers beside the writer: in WAL mode a read does not wait for a write, nor for
            // the other reads queued on the one connection. Each sees what had committed when
            // it began, and cannot write.
            let reads = AnyPoolOptions::new()
                .max_connections(SQLITE_READERS)
                .acquire_timeout(acquire)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")
                            .await?;
                        Ok(())
                    })
                })
                .connect_lazy(&url)?;
            (pool, reads, Backend::Sqlite)
        } else {
            anyhow::bail!(
                "database.url must start with postgres:// or sqlite://, not `{}`",
                crate::bus::redact_url(&config.url)
            );
        };
        Ok(Self {
            pool,
            reads,
            backend,
            service,
            outbox_ready: Arc::new(Notify::new()),
            commits: Arc::new(tokio::sync::watch::Sender::new(0)),
            longest_wait: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Brings the platform tables and the service's own tables up to date.
    pub async fn migrate(&self, migrations: Migrations) -> anyhow::Result<()> {
        let platform = PLATFORM.for_backend(self.backend);
        let service = migrations.for_backend(self.backend);
        // Both sets share one migrations table; each ignores the other's versions.
        for set in [&platform, &service] {
            let mut migrator = Migrator::with_migrations(set.iter().cloned().collect());
            migrator.set_ignore_missing(true);
            migrator
                .run(&self.pool)
                .await
                .map_err(|e| anyhow::anyhow!("migrating {}: {e}", self.service))?;
        }
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool for a read outside any transaction: it sees every transaction committed
    /// before it begins, and may not write.
    pub fn reads(&self) -> &AnyPool {
        &self.reads
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Begins a transaction, noting how long it waited for a connection (overload shows there
    /// first: `platform::overload`).
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let asked = Instant::now();
        let inner = self.pool.begin().await;
        let waited = u64::try_from(asked.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.longest_wait.fetch_max(waited, Ordering::Relaxed);
        Ok(Tx {
            inner: inner?,
            enqueued: false,
        })
    }

    /// The longest a transaction waited to begin (for a connection, and the `BEGIN` itself)
    /// since the last call; zero when none began.
    pub fn take_longest_wait(&self) -> Duration {
        Duration::from_micros(self.longest_wait.swap(0, Ordering::Relaxed))
    }

    /// Commits a transaction and, when it wrote an event, wakes the outbox relay, which
    /// publishes it (a commit that wrote none costs the relay nothing). Inside a state-changing
    /// call, the call's audit entry is written first, in the transaction (`audit::context`).
    pub async fn commit(&self, mut tx: Tx) -> Result<(), sqlx::Error> {
        crate::audit::context::record_commit(&mut tx).await?;
        let enqueued = tx.enqueued;
        tx.commit().await?;
        if enqueued {
            self.outbox_ready.notify_one();
        }
        self.commits.send_modify(|n| *n = n.wrapping_add(1));
        Ok(())
    }

    /// A receiver that sees a change after each commit of this process (several commits may
    /// show as one), for live streams.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// Ok when the database answers; used by the readiness check.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub(crate) fn outbox_ready(&self) -> &Notify {
        &self.outbox_ready
    }

    pub async fn close(&self) {
        self.reads.close().await;
        self.pool.close().await;
    }
}

/// The placeholders of a multi-row `VALUES` list of `rows` rows of `columns` parameters each,
/// numbered from `$1`: `($1, $2), ($3, $4)`. Both dialects take it; a caller keeps a statement
/// under SQLite's 32,766 parameters.
pub fn values_rows(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| {
            let params: Vec<String> = (1..=columns)
                .map(|column| format!("${}", row * columns + column))
                .collect();
            format!("({})", params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Milliseconds since the epoch, the one time representation in every store.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A stored flag (BIGINT 0/1, the portable boolean: the `Any` driver decodes `bool` only from
/// a real boolean column). A row struct reads one into a `bool` field with
/// `#[sqlx(try_from = "Flag")]`. Only 1 is true, as the stores write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl sqlx::Type<Any> for Flag {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <i64 as sqlx::Type<Any>>::type_info()
    }

    fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
        <i64 as sqlx::Type<Any>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, Any> for Flag {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Self(<i64 as sqlx::Decode<'r, Any>>::decode(value)? == 1))
    }
}

impl From<Flag> for bool {
    fn from(flag: Flag) -> bool {
        flag.0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_rows_numbers_every_parameter_once() {
        assert_eq!(values_rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(values_rows(1, 1), "($1)");
        assert_eq!(values_rows(0, 4), "");
    }

    use super::*;

    #[tokio::test]
    async fn a_flag_is_true_only_when_stored_as_one() {
        sqlx::any::install_default_drivers();
        let pool = AnyPool::connect("sqlite::memory:").await.unwrap();
        let flags: Vec<(Flag, Flag, Flag)> = sqlx::query_as("SELECT 0, 1, 2")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(flags, [(Flag(false), Flag(true), Flag(false))]);
    }
}
