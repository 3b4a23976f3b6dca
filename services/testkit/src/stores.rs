//! Fresh, isolated stores for tests: a PostgreSQL database of its own per test, or a SQLite
//! directory of its own, each removed when its guard is dropped — when the test ends, pass or
//! fail.

use std::ops::Deref;
use std::time::Duration;

use sqlx::Executor;

use yimen_platform::db::{DatabaseConfig, Db, Migrations};

use crate::unavailable;

/// The server tests use; `YIMEN_TEST_POSTGRES` overrides.
pub fn postgres_admin_url() -> String {
    std::env::var("YIMEN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// What every test database's name starts with.
pub const TEST_DATABASE_PREFIX: &str = "yimen_t_";

/// A new empty PostgreSQL database, dropped (with whatever is still connected to it) when this
/// guard is.
#[derive(Debug)]
pub struct TestDatabase {
    admin: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// The URL to connect to it with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its name on the server.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// How long a guard waits for the server to confirm a drop. DROP DATABASE waits for a
/// checkpoint, which on a busy machine can take minutes; past this the guard stops waiting
/// and the server finishes the drop on its own (it does not notice that the client left
/// until it answers).
const DROP_CONFIRM_PATIENCE: Duration = Duration::from_secs(10);

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        crate::clean_up(format!("database {name}"), async move {
            let mut conn = admin_connection(&admin).await?;
            // FORCE: the test's pool, or a process it started, may still be connected.
            let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let dropped = conn.execute(sqlx::AssertSqlSafe(statement));
            if let Ok(done) = tokio::time::timeout(DROP_CONFIRM_PATIENCE, dropped).await {
                done?;
            }
            Ok(())
        });
    }
}

async fn admin_connection(admin: &str) -> Result<sqlx::AnyConnection, sqlx::Error> {
    use sqlx::ConnectOptions;
    use std::str::FromStr;
    sqlx::any::install_default_drivers();
    sqlx::any::AnyConnectOptions::from_str(admin)?
        .connect()
        .await
}

async fn admin_execute(admin: &str, statement: String) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let mut conn = admin_connection(admin).await?;
    conn.execute(sqlx::AssertSqlSafe(statement)).await?;
    conn.close().await
}

/// A new empty PostgreSQL database, or None (skip) when the server is unreachable.
pub async fn fresh_postgres_database() -> Option<TestDatabase> {
    let admin = postgres_admin_url();
    let name = format!("{TEST_DATABASE_PREFIX}{}", uuid::Uuid::new_v4().simple());
    match admin_execute(&admin, format!("CREATE DATABASE {name}")).await {
        Ok(()) => {
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
            let url = format!("{base}/{name}");
            Some(TestDatabase { admin, name, url })
        }
        Err(e) => {
            unavailable("PostgreSQL", &e.to_string());
            None
        }
    }
}

/// A migrated store for one test; it derefs to its [`Db`], and its database or directory is
/// removed when it is dropped.
#[derive(Debug)]
pub struct TestStore {
    db: Db,
    /// Where the store lives, for [`TestStore::replica`].
    config: DatabaseConfig,
    _place: Place,
}

#[derive(Debug)]
enum Place {
    Postgres(#[allow(dead_code)] TestDatabase),
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
}

impl TestStore {
    /// A handle on the store, for code that takes a [`Db`] by value; the store lives as long
    /// as this guard, not as long as the handle.
    pub fn db(&self) -> Db {
        self.db.clone()
    }

    /// Another handle on the same store with a pool of its own, as a second replica of the
    /// service would have.
    pub async fn replica(&self) -> Db {
        Db::connect(&self.config, self.db.service())
            .await
            .expect("open the test store again")
    }
}

impl Deref for TestStore {
    type Target = Db;

    fn deref(&self) -> &Db {
        &self.db
    }
}

async fn open(
    service: &'static str,
    migrations: Migrations,
    url: String,
    max: u32,
) -> (Db, DatabaseConfig) {
    let config = DatabaseConfig {
        url,
        max_connections: max,
        acquire_timeout_secs: 10,
    };
    let db = Db::connect(&config, service)
        .await
        .expect("open the test store");
    db.migrate(migrations).await.expect("migrate");
    (db, config)
}

/// A migrated store of `service` on a fresh PostgreSQL database, or None (skip).
pub async fn postgres_store(service: &'static str, migrations: Migrations) -> Option<TestStore> {
    let database = fresh_postgres_database().await?;
    let (db, config) = open(service, migrations, database.url().to_string(), 5).await;
    Some(TestStore {
        db,
        config,
        _place: Place::Postgres(database),
    })
}

/// A new temporary directory named `<prefix>…`, removed with everything in it when dropped.
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("create a temporary directory")
}

/// A migrated store of `service` on SQLite in a fresh temporary directory.
pub async fn sqlite_store(service: &'static str, migrations: Migrations) -> TestStore {
    let dir = temp_dir("yimen-test-");
    let (db, config) = open(
        service,
        migrations,
        format!("sqlite://{}", dir.path().display()),
        1,
    )
    .await;
    TestStore {
        db,
        config,
        _place: Place::Sqlite(dir),
    }
}

/// Runs the store suite `$name` (an `async fn(Db)`) against both backends:
/// generates `postgres::$name` and `sqlite::$name` tests. Each test's store is removed when
/// it ends, pass or fail. The tests run on this crate's Tokio, so a crate whose own code needs
/// no Tokio need not depend on it for them.
#[macro_export]
macro_rules! store_contract {
    ($service:expr, $migrations:expr, [$($name:ident),* $(,)?]) => {
        mod postgres {
            $(
                #[$crate::__tokio::test(crate = "yimen_testkit::__tokio")]
                async fn $name() {
                    if let Some(store) = $crate::stores::postgres_store($service, $migrations).await {
                        super::$name(store.db()).await;
                    }
                }
            )*
        }
        mod sqlite {
            $(
                #[$crate::__tokio::test(crate = "yimen_testkit::__tokio")]
                async fn $name() {
                    let store = $crate::stores::sqlite_store($service, $migrations).await;
                    super::$name(store.db()).await;
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use yimen_platform::backoff::{Backoff, poll};

    const MIGRATIONS: Migrations = Migrations::NONE;

    /// Whether `name` is gone within the time a drop may take on a busy server (it waits
    /// for a checkpoint; see [`DROP_CONFIRM_PATIENCE`]).
    async fn database_gone(name: &str) -> bool {
        let every = Backoff::constant(Duration::from_millis(200));
        let gone = poll(every, Duration::from_secs(180), || async {
            Ok::<_, std::convert::Infallible>((!database_exists(name).await).then_some(()))
        });
        matches!(gone.await, Ok(Some(())))
    }

    async fn database_exists(name: &str) -> bool {
        use sqlx::{ConnectOptions, Connection, Row};
        use std::str::FromStr;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::any::AnyConnectOptions::from_str(&postgres_admin_url())
            .expect("admin url")
            .connect()
            .await
            .expect("connect as admin");
        let row = sqlx::query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .expect("count databases");
        let n: i64 = row.try_get("n").expect("a count");
        conn.close().await.expect("close");
        n == 1
    }

    /// Runs `test` on a runtime of its own and answers whether it panicked, so a failing
    /// test's cleanup can be checked.
    fn panics(test: impl std::future::Future<Output = ()> + Send + 'static) -> bool {
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(test)
        })
        .join()
        .is_err()
    }

    #[tokio::test]
    async fn postgres_store_is_dropped_with_its_guard_even_while_connected() {
        let Some(store) = postgres_store("probe", MIGRATIONS).await else {
            return;
        };
        let name = match &store._place {
            Place::Postgres(database) => database.name().to_string(),
            Place::Sqlite(_) => unreachable!("a PostgreSQL store"),
        };
        let handle = store.db();
        handle.ping().await.expect("the store answers");
        assert!(database_exists(&name).await);
        drop(store);
        assert!(handle.ping().await.is_err(), "its connections were ended");
        assert!(database_gone(&name).await, "{name} is gone");
    }

    #[tokio::test]
    async fn postgres_database_is_dropped_when_the_test_fails() {
        let (tx, rx) = std::sync::mpsc::channel();
        let panicked = panics(async move {
            if let Some(database) = fresh_postgres_database().await {
                tx.send(database.name().to_string()).expect("send the name");
                panic!("the test fails midway");
            }
        });
        if let Ok(name) = rx.recv() {
            assert!(panicked);
            assert!(database_gone(&name).await, "{name} is gone");
        }
    }

    #[tokio::test]
    async fn sqlite_store_directory_is_removed_when_the_test_fails() {
        let (tx, rx) = std::sync::mpsc::channel();
        let panicked = panics(async move {
            let store = sqlite_store("probe", MIGRATIONS).await;
            let Place::Sqlite(dir) = &store._place else {
                unreachable!("a SQLite store")
            };
            tx.send(dir.path().to_path_buf()).expect("send the path");
            store.ping().await.expect("the store answers");
            panic!("the test fails midway");
        });
        let dir = rx.recv().expect("the store's directory");
        assert!(panicked);
        assert!(!dir.exists(), "{} is gone", dir.display());
    }
}
