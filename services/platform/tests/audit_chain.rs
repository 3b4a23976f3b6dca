//! The audit trail's chain over both stores: entries appended by plain INSERTs are chained in
//! the order they commit and verify; an entry edited, deleted or inserted by hand afterwards
//! is named by its position, and a tail cut back behind the last anchor is found through it.

use yimen_platform::audit::{
    AuditConfig, HashAlgorithm, KnownAnchor, NewEntry, chain_once, record_event, verify,
};
use yimen_platform::db::{Db, Migrations};
use yimen_platform::events::new_event;
use yimen_proto::v1::{
    Anchor, AuditAnchored, ChainProblemKind, ChainReport, DepartmentLeft, event::Payload,
};

const CASE: &str = "0190a0a0-0000-7000-8000-000000000001";

fn entry(n: usize) -> NewEntry {
    NewEntry {
        kind: yimen_platform::audit::CALL,
        action: "/yimen.v1.DispatchService/AcceptAssignment".into(),
        subject: format!("clerk-{n}"),
        role: "department".into(),
        binding: "housing".into(),
        outcome: "OK".into(),
        case_ids: vec![CASE.into()],
        objects: vec!["case.accepted.housing".into()],
    }
}

/// `n` entries appended and chained.
async fn chained(db: &Db, n: usize, config: &AuditConfig) {
    for i in 1..=n {
        entry(i).insert(db.pool()).await.unwrap();
    }
    assert_eq!(chain_once(db, config).await.unwrap(), n);
}

async fn exec(db: &Db, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(db.pool())
        .await
        .unwrap();
}

async fn hash_at(db: &Db, position: i64) -> String {
    sqlx::query_scalar("SELECT hash FROM audit_log WHERE position = $1")
        .bind(position)
        .fetch_one(db.pool())
        .await
        .unwrap()
}

fn problem(report: &ChainReport) -> (u64, ChainProblemKind) {
    let p = report.problem.as_ref().expect("a problem is reported");
    (p.position, p.kind())
}

async fn appended_entries_chain_in_order_and_verify(db: Db) {
    let config = AuditConfig::default();
    chained(&db, 5, &config).await;
    let report = verify(&db, None).await.unwrap();
    assert_eq!(report.problem, None, "{report:?}");
    assert_eq!(report.entries_checked, 5);
    assert_eq!(report.head_position, 5);
    assert_eq!(report.unchained, 0);
    assert!(
        report.head_hash.starts_with("sha256:"),
        "{}",
        report.head_hash
    );
    // Entries written after a round are chained onto the head by the next.
    chained(&db, 2, &config).await;
    let report = verify(&db, None).await.unwrap();
    assert_eq!((report.problem, report.entries_checked), (None, 7));
}

async fn sm3_chains_verify_and_name_their_algorithm(db: Db) {
    let sm3 = AuditConfig {
        hash: HashAlgorithm::Sm3,
        ..AuditConfig::default()
    };
    chained(&db, 3, &sm3).await;
    let report = verify(&db, None).await.unwrap();
    assert_eq!(report.problem, None, "{report:?}");
    assert!(report.head_hash.starts_with("sm3:"), "{}", report.head_hash);
}

async fn an_entry_edited_by_hand_is_named_altered(db: Db) {
    chained(&db, 5, &AuditConfig::default()).await;
    exec(
        &db,
        "UPDATE audit_log SET subject = 'someone-else' WHERE position = 3",
    )
    .await;
    let report = verify(&db, None).await.unwrap();
    assert_eq!(problem(&report), (3, ChainProblemKind::Altered));
    assert_eq!(report.entries_checked, 2);
}

async fn an_entry_deleted_by_hand_is_named_deleted(db: Db) {
    chained(&db, 5, &AuditConfig::default()).await;
    exec(&db, "DELETE FROM audit_log WHERE position = 2").await;
    let report = verify(&db, None).await.unwrap();
    assert_eq!(problem(&report), (2, ChainProblemKind::Deleted));
}

async fn a_row_inserted_by_hand_is_named_inserted(db: Db) {
    chained(&db, 5, &AuditConfig::default()).await;
    let forged = "INSERT INTO audit_log (entry_id, recorded_at, kind, action, subject, role, \
                  binding, outcome, case_ids, objects, position, hash) VALUES \
                  ('0190a0a0-0000-7000-8000-00000000f0f0', 1, 'call', \
                  '/yimen.v1.DispatchService/ReplyAssignment', 'forger', 'department', 'housing', \
                  'OK', '', '', POSITION, 'sha256:00')";
    exec(&db, &forged.replace("POSITION", "4")).await;
    let report = verify(&db, None).await.unwrap();
    assert_eq!(problem(&report), (4, ChainProblemKind::Inserted));
    assert!(
        report
            .problem
            .unwrap()
            .detail
            .contains("0190a0a0-0000-7000-8000-00000000f0f0"),
        "the forged entry is named"
    );
    exec(&db, "DELETE FROM audit_log WHERE subject = 'forger'").await;
    // Past the head, too.
    exec(&db, &forged.replace("POSITION", "6")).await;
    let report = verify(&db, None).await.unwrap();
    assert_eq!(problem(&report), (6, ChainProblemKind::Inserted));
}

async fn a_tail_cut_behind_the_anchor_is_named_missing(db: Db) {
    chained(&db, 5, &AuditConfig::default()).await;
    let anchor = KnownAnchor {
        position: 5,
        hash: hash_at(&db, 5).await,
    };
    assert_eq!(verify(&db, Some(&anchor)).await.unwrap().problem, None);
    // The tail cut and the head set back so the store agrees with itself: only the anchor
    // still knows.
    let three = hash_at(&db, 3).await;
    exec(&db, "DELETE FROM audit_log WHERE position > 3").await;
    sqlx::query("UPDATE audit_head SET position = 3, hash = $1")
        .bind(&three)
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(verify(&db, None).await.unwrap().problem, None);
    let report = verify(&db, Some(&anchor)).await.unwrap();
    assert_eq!(problem(&report), (4, ChainProblemKind::MissingTail));
    // Cut without resetting the head: the store's own head finds it.
    chained(&db, 3, &AuditConfig::default()).await;
    exec(&db, "DELETE FROM audit_log WHERE position = 6").await;
    let report = verify(&db, None).await.unwrap();
    assert_eq!(problem(&report), (6, ChainProblemKind::MissingTail));
}

async fn the_head_is_anchored_through_the_outbox_and_kept_where_consumed(db: Db) {
    let config = AuditConfig {
        anchor_every_secs: 0,
        ..AuditConfig::default()
    };
    chained(&db, 2, &config).await;
    let keys = yimen_platform::outbox::unsent_routing_keys(&db)
        .await
        .unwrap();
    assert_eq!(keys, ["audit.anchored"]);
    // Nothing new: no second anchor.
    assert_eq!(chain_once(&db, &config).await.unwrap(), 0);
    assert_eq!(
        yimen_platform::outbox::unsent_routing_keys(&db)
            .await
            .unwrap()
            .len(),
        1
    );
    // The consuming side keeps an anchor and records other events as applied.
    let mut tx = db.begin().await.unwrap();
    let anchored = new_event(
        "audit.anchored",
        "",
        "intake",
        Payload::AuditAnchored(AuditAnchored {
            anchor: Some(Anchor {
                service: "intake".into(),
                position: 9,
                hash: "sha256:ab".into(),
                at: None,
            }),
        }),
    );
    assert!(record_event(&mut tx, &anchored).await.unwrap());
    let mut left = new_event(
        "department.left",
        "",
        "dispatch",
        Payload::DepartmentLeft(DepartmentLeft::default()),
    );
    left.case_id = CASE.into();
    assert!(!record_event(&mut tx, &left).await.unwrap());
    db.commit(tx).await.unwrap();
    let latest = yimen_platform::audit::latest_anchor(&db, "intake")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((latest.position, latest.hash.as_str()), (9, "sha256:ab"));
    let page = yimen_platform::paging::Page::parse(None).unwrap();
    let (entries, _) = yimen_platform::audit::list_for_case(&db, CASE, &page)
        .await
        .unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "/yimen.v1.DispatchService/AcceptAssignment",
            "/yimen.v1.DispatchService/AcceptAssignment",
            "department.left"
        ]
    );
    assert_eq!(entries[2].subject, "dispatch");
    assert_eq!(entries[2].outcome, "applied");
}

yimen_testkit::store_contract!(
    "audited",
    yimen_platform::db::Migrations::NONE,
    [
        appended_entries_chain_in_order_and_verify,
        sm3_chains_verify_and_name_their_algorithm,
        an_entry_edited_by_hand_is_named_altered,
        an_entry_deleted_by_hand_is_named_deleted,
        a_row_inserted_by_hand_is_named_inserted,
        a_tail_cut_behind_the_anchor_is_named_missing,
        the_head_is_anchored_through_the_outbox_and_kept_where_consumed,
    ]
);

/// An entry whose transaction commits after a later one was chained is chained after it,
/// never skipped (PostgreSQL: concurrent writers).
#[tokio::test]
async fn an_entry_committed_late_is_chained_later_not_skipped() {
    let Some(store) = yimen_testkit::stores::postgres_store("audited", Migrations::NONE).await
    else {
        return;
    };
    let config = AuditConfig::default();
    let mut slow = store.begin().await.unwrap();
    entry(1).insert(&mut *slow).await.unwrap();
    chained(&store, 1, &config).await;
    store.commit(slow).await.unwrap();
    assert_eq!(chain_once(&store, &config).await.unwrap(), 1);
    let subjects: Vec<String> =
        sqlx::query_scalar("SELECT subject FROM audit_log ORDER BY position")
            .fetch_all(store.pool())
            .await
            .unwrap();
    // chained() wrote clerk-1 too; the slow writer's clerk-1 is second.
    assert_eq!(subjects.len(), 2);
    let report = verify(&store, None).await.unwrap();
    assert_eq!((report.problem, report.entries_checked), (None, 2));
}
