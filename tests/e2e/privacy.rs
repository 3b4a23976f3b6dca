//! Personal data at rest, end to end: after a submission naming a petitioner and a mediation
//! agreement naming the same person as a party, neither the name, the ID number nor the phone
//! is anywhere an operator could read it — any table of any service's store, any file under
//! standalone's data directory (the SQLite files, their -wal files, the bus journal), the
//! processes' logs or the events published — and after `yimen keys rotate` every value is at
//! the new key version and an administrator still reads everything in full.

use std::path::Path;
use std::sync::{Arc, Mutex};

use yimen::settings::Settings;
use yimen_e2e::*;
use yimen_platform::db::{DatabaseConfig, Db};
use yimen_proto::v1::*;

const NAME: &str = "欧阳测试";
const ID_NUMBER: &str = "420881198706064513";
const PHONE: &str = "13912345678";
const PERSONAL: [&str; 3] = [NAME, ID_NUMBER, PHONE];
/// Where the matter arose: not personal, kept in clear, so each search shows it finds text.
const TOWN: &str = "城关镇";

/// What the test registered: the case and its mediation file.
struct Registered {
    case_id: String,
    mediation_id: String,
}

/// Submits a case for the petitioner, opens its mediation and concludes it with an agreement
/// naming the petitioner as payee; waits until intake's timeline shows the conclusion (every
/// event on its way has been handled).
async fn register(clients: &Clients) -> Registered {
    let mut request = submission(Category::LabourWages, TOWN, "wages owed for the season");
    request.petitioners = vec![Person {
        name: NAME.into(),
        id_number: ID_NUMBER.into(),
        phone: PHONE.into(),
    }];
    let case = clients
        .intake
        .clone()
        .submit_case(request)
        .await
        .expect("submit")
        .into_inner();
    let mut mediation = clients.mediation.clone();
    let file = mediation
        .open_mediation(OpenMediationRequest {
            case_id: case.case_id.clone(),
            linkage: Linkage::Petition as i32,
            category: Category::LabourWages as i32,
            summary: "wages owed by the contractor".into(),
            committee: String::new(),
        })
        .await
        .expect("open mediation")
        .into_inner();
    let mediator = mediation
        .register_mediator(RegisterMediatorRequest {
            name: "老李".into(),
            committee: file.committee.clone(),
        })
        .await
        .expect("register mediator")
        .into_inner();
    mediation
        .schedule_session(ScheduleSessionRequest {
            mediation_id: file.mediation_id.clone(),
            at: Some(yimen_platform::time::timestamp(
                yimen_platform::db::now_millis(),
            )),
            mediators: vec![mediator.mediator_id],
            room: "调解室".into(),
        })
        .await
        .expect("schedule");
    mediation
        .record_outcome(RecordOutcomeRequest {
            mediation_id: file.mediation_id.clone(),
            outcome: MediationState::Agreed as i32,
            agreement: Some(Agreement {
                amount: Some(Money { fen: 1_200_000 }),
                payer: "某建筑公司".into(),
                payee: NAME.into(),
                terms: "paid within ten days".into(),
                installments: Vec::new(),
            }),
            difficulty: 0,
        })
        .await
        .expect("agreed");
    let case = wait_for_case(clients, &case.case_id, |c| {
        c.timeline.iter().any(|t| t.kind == "mediation.concluded")
    })
    .await;
    assert!(
        case.timeline
            .iter()
            .any(|t| t.kind == "mediation.concluded"),
        "{:?}",
        case.timeline
    );
    Registered {
        case_id: case.case_id,
        mediation_id: file.mediation_id,
    }
}

fn holds(bytes: &[u8], value: &str) -> bool {
    let needle = value.as_bytes();
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// Fails naming `place` when `bytes` hold any of the personal values.
fn assert_nothing_personal_in(place: &str, bytes: &[u8]) {
    for value in PERSONAL {
        assert!(!holds(bytes, value), "{place} holds {value}");
    }
}

/// Every file under `dir`, recursively: path and raw bytes.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read the data directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            let bytes = std::fs::read(&path).expect("read a file");
            found.push((path.display().to_string(), bytes));
        }
    }
    found
}

/// A service's store, as the services reach it.
async fn store(settings: &Settings, service: &'static str) -> Db {
    let config = DatabaseConfig {
        max_connections: 1,
        ..settings.database.clone()
    };
    Db::connect(&config, service).await.expect("the store")
}

/// Checks that an administrator reads the case and the agreement in full, and that every
/// sealed value is at key version `version`.
async fn readable_in_full_at(
    clients: &Clients,
    settings: &Settings,
    registered: &Registered,
    version: u32,
) {
    let case = clients
        .intake
        .clone()
        .get_case(GetCaseRequest {
            case_ref: registered.case_id.clone(),
            after_position: 0,
        })
        .await
        .expect("get case")
        .into_inner();
    assert_eq!(
        case.petitioners,
        [Person {
            name: NAME.into(),
            id_number: ID_NUMBER.into(),
            phone: PHONE.into(),
        }]
    );
    let file = clients
        .mediation
        .clone()
        .get_mediation(GetMediationRequest {
            mediation_id: registered.mediation_id.clone(),
        })
        .await
        .expect("get mediation")
        .into_inner();
    assert_eq!(file.agreement.expect("agreement").payee, NAME);

    let prefix = format!("v{version}:");
    let intake = store(settings, "intake").await;
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT name, id_number, phone FROM petitioners")
            .fetch_all(intake.pool())
            .await
            .expect("petitioners");
    intake.close().await;
    assert!(!rows.is_empty());
    for (name, id_number, phone) in rows {
        for value in [name, id_number, phone] {
            assert!(value.starts_with(&prefix), "not at {prefix}: {value}");
        }
    }
    let mediation = store(settings, "mediation").await;
    let parties: Vec<(String, String)> = sqlx::query_as(
        "SELECT agreement_payer, agreement_payee FROM mediations WHERE mediation_id = $1",
    )
    .bind(&registered.mediation_id)
    .fetch_all(mediation.pool())
    .await
    .expect("parties");
    mediation.close().await;
    for (payer, payee) in parties {
        assert!(payer.starts_with(&prefix) && payee.starts_with(&prefix));
    }
}

/// Rotates the data keys as `yimen keys rotate` does, one row per batch, and answers the
/// version now current.
async fn rotate(settings: &Settings) -> u32 {
    let mut seen = Vec::new();
    let rotated = yimen::keys::rotate(settings, 1, |p| seen.push(p))
        .await
        .expect("rotate");
    assert_eq!(rotated.resealed.get("intake"), Some(&1), "{seen:?}");
    assert_eq!(rotated.resealed.get("mediation"), Some(&1), "{seen:?}");
    assert!(
        seen.iter()
            .any(|p| p.service == "intake" && p.done == 1 && p.total == 1),
        "progress: {seen:?}"
    );
    rotated.version
}

/// The process's log lines, at debug, for the in-process standalone.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_keeps_no_personal_data_in_clear_and_rotation_keeps_cases_readable() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let _ = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .try_init();
    let s = Standalone::start().await.expect("start standalone");
    let registered = register(&s.clients).await;

    let data_dir = s.settings.standalone.data_dir.clone();
    let files = files_under(&data_dir);
    assert!(
        files.iter().any(|(p, _)| p.ends_with("intake.db-wal")),
        "the search covers the WAL: {:?}",
        files.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    assert!(files.iter().any(|(p, _)| p.ends_with("bus.journal")));
    assert!(
        files.iter().any(|(_, bytes)| holds(bytes, TOWN)),
        "the search finds what is kept in clear"
    );
    for (path, bytes) in &files {
        assert_nothing_personal_in(path, bytes);
    }
    let captured = logs.0.lock().expect("logs").clone();
    assert!(
        holds(&captured, &registered.case_id),
        "the case's log lines were captured"
    );
    assert_nothing_personal_in("the log", &captured);

    let version = rotate(&s.settings).await;
    assert_eq!(version, 2);
    readable_in_full_at(&s.clients, &s.settings, &registered, version).await;
    for (path, bytes) in files_under(&data_dir) {
        assert_nothing_personal_in(&path, &bytes);
    }
    s.stop().await;
}

/// Every text and bytea column of every table of every schema but the system's, searched
/// for the personal values (bytea by hex, which covers the events every outbox published).
async fn assert_nothing_personal_in_the_database(url: &str) {
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::any::AnyConnectOptions::from_str(url)
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let columns: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT c.table_schema::text, c.table_name::text, c.column_name::text, c.data_type::text \
         FROM information_schema.columns c JOIN information_schema.tables t \
         ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE t.table_type = 'BASE TABLE' \
         AND c.table_schema NOT IN ('pg_catalog', 'information_schema') \
         AND c.data_type IN ('text', 'character varying', 'bytea', 'jsonb', 'json')",
    )
    .fetch_all(&mut conn)
    .await
    .expect("the columns");
    assert!(
        columns
            .iter()
            .any(|(s, t, c, _)| s == "intake" && t == "petitioners" && c == "name"),
        "the search covers intake's petitioners: {columns:?}"
    );
    assert!(
        columns
            .iter()
            .any(|(_, t, c, d)| t == "outbox" && c == "payload" && d == "bytea"),
        "the search covers the outboxes"
    );
    let mut town_found = false;
    for (schema, table, column, kind) in &columns {
        let text = if kind == "bytea" {
            format!("encode(\"{column}\", 'hex')")
        } else {
            format!("CAST(\"{column}\" AS TEXT)")
        };
        let sql = format!(
            "SELECT COUNT(*) FROM \"{schema}\".\"{table}\" WHERE position($1 in {text}) > 0"
        );
        for value in PERSONAL.into_iter().chain([TOWN]) {
            let needle = if kind == "bytea" {
                value
                    .bytes()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            } else {
                value.to_string()
            };
            let found: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                .bind(needle)
                .fetch_one(&mut conn)
                .await
                .expect("search a column");
            if value == TOWN {
                town_found |= found > 0;
            } else {
                assert_eq!(found, 0, "{schema}.{table}.{column} holds {value}");
            }
        }
    }
    assert!(town_found, "the search finds what is kept in clear");
    conn.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_keeps_no_personal_data_in_clear_and_rotation_keeps_cases_readable() {
    let debug = [(
        "YIMEN__TELEMETRY__LOG_LEVEL".to_string(),
        "debug".to_string(),
    )];
    let Some(d) = Distributed::start_with(debug.into_iter().collect()).await else {
        return;
    };
    let registered = register(&d.clients).await;
    let settings = d.settings();

    assert_nothing_personal_in_the_database(&settings.database.url).await;
    let logs = d.logs();
    assert!(
        holds(&logs, &registered.case_id),
        "the case's log lines were captured"
    );
    assert_nothing_personal_in("the logs", &logs);

    let version = rotate(&settings).await;
    readable_in_full_at(&d.clients, &settings, &registered, version).await;
    assert_nothing_personal_in_the_database(&settings.database.url).await;
    d.stop().await;
}
