//! Fresh, isolated stores for tests: a new PostgreSQL database per test (dropped by the
//! operator's cleanup, or left for inspection) and a new SQLite directory per test.
//!
//! When PostgreSQL or RabbitMQ is unreachable, tests fail loudly under CI (`CI` set) and
//! otherwise skip with a line saying what was skipped.

use crate::bus::BusConfig;
use crate::db::{DatabaseConfig, Db, Migrations};

/// The server tests use; `YIMEN_TEST_POSTGRES` overrides.
pub fn postgres_admin_url() -> String {
    std::env::var("YIMEN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The broker tests use; `YIMEN_TEST_AMQP` overrides.
pub fn amqp_url() -> String {
    std::env::var("YIMEN_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Under CI a missing service is a failure; elsewhere a skip with a clear line.
pub fn unavailable(what: &str, why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what} is required under CI but unreachable: {why}");
    }
    eprintln!("skipped: {what} unreachable ({why})");
}

/// A new empty PostgreSQL database; its URL, or None (skip) when the server is unreachable.
pub async fn fresh_postgres_database() -> Option<String> {
    use sqlx::{ConnectOptions, Executor};
    use std::str::FromStr;
    sqlx::any::install_default_drivers();
    let admin = postgres_admin_url();
    let name = format!("yimen_t_{}", uuid::Uuid::new_v4().simple());
    let result = async {
        let mut conn = sqlx::any::AnyConnectOptions::from_str(&admin)?
            .connect()
            .await?;
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await?;
        Ok::<_, sqlx::Error>(())
    }
    .await;
    match result {
        Ok(()) => {
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
            Some(format!("{base}/{name}"))
        }
        Err(e) => {
            unavailable("PostgreSQL", &e.to_string());
            None
        }
    }
}

/// A migrated store of `service` on a fresh PostgreSQL database, or None (skip).
pub async fn postgres_store(service: &'static str, migrations: Migrations) -> Option<Db> {
    let url = fresh_postgres_database().await?;
    let db = Db::connect(
        &DatabaseConfig {
            url,
            max_connections: 5,
            acquire_timeout_secs: 10,
        },
        service,
    )
    .await
    .expect("connect to the fresh test database");
    db.migrate(migrations).await.expect("migrate");
    Some(db)
}

/// A migrated store of `service` on SQLite in a fresh temporary directory.
pub async fn sqlite_store(service: &'static str, migrations: Migrations) -> Db {
    let dir = std::env::temp_dir().join(format!("yimen-test-{}", uuid::Uuid::new_v4().simple()));
    let db = Db::connect(
        &DatabaseConfig {
            url: format!("sqlite://{}", dir.display()),
            max_connections: 1,
            acquire_timeout_secs: 10,
        },
        service,
    )
    .await
    .expect("open the test SQLite store");
    db.migrate(migrations).await.expect("migrate");
    db
}

/// Idle test queues expire this soon. Each quorum queue holds broker file descriptors (the
/// broker's limit is about a thousand); queues left for minutes by a test run would exhaust
/// them and the broker would stop accepting connections.
pub const TEST_QUEUE_EXPIRY_SECS: u64 = 20;

/// Bus settings for a test on the shared broker: a prefix of its own, queues that expire.
pub fn amqp_bus_config() -> BusConfig {
    BusConfig {
        url: amqp_url(),
        prefix: format!("t-{}.", uuid::Uuid::new_v4().simple()),
        prefetch: 16,
        delivery_limit: 3,
        queue_expires_secs: Some(TEST_QUEUE_EXPIRY_SECS),
    }
}

/// Runs the store suite `$name` (an `async fn(Db)`) against both backends:
/// generates `postgres::$name` and `sqlite::$name` tests.
#[macro_export]
macro_rules! store_contract {
    ($service:expr, $migrations:expr, [$($name:ident),* $(,)?]) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(db) = $crate::testing::stores::postgres_store($service, $migrations).await {
                        super::$name(db).await;
                    }
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = $crate::testing::stores::sqlite_store($service, $migrations).await;
                    super::$name(db).await;
                }
            )*
        }
    };
}
