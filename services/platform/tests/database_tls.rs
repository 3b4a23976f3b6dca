//! PostgreSQL over TLS with `sslmode=verify-full` (rustls): the server reached through a TLS
//! front holding a test CA's certificate, so the store really verifies the certificate and
//! the host name before it migrates and answers.

use yimen_platform::db::{DatabaseConfig, Db, Migrations};
use yimen_testkit::stores::{fresh_postgres_database, postgres_admin_url};
use yimen_testkit::tls::{Before, TestPki, TlsFront};

/// The test server's `host:port`.
fn upstream() -> String {
    let admin = postgres_admin_url();
    let after_at = admin
        .rsplit_once('@')
        .map_or(admin.as_str(), |(_, rest)| rest);
    after_at.split('/').next().unwrap_or(after_at).to_string()
}

/// The test database's URL through the front, to `localhost` (a name the certificate holds),
/// verifying against `ca`.
fn verify_full(url: &str, front: &TlsFront, ca: &std::path::Path) -> String {
    let (scheme_user, rest) = url.rsplit_once('@').expect("a user in the test URL");
    let database = rest.rsplit_once('/').map_or("", |(_, db)| db);
    format!(
        "{scheme_user}@localhost:{}/{database}?sslmode=verify-full&sslrootcert={}",
        front.port(),
        ca.display()
    )
}

fn config(url: String) -> DatabaseConfig {
    DatabaseConfig {
        url,
        ..DatabaseConfig::default()
    }
}

#[tokio::test]
async fn verify_full_connects_through_tls_migrates_and_answers() {
    let Some(database) = fresh_postgres_database().await else {
        return;
    };
    let pki = TestPki::generate();
    let front = TlsFront::start(&pki, &upstream(), Before::PostgresSslRequest, false).await;
    let db = Db::connect(
        &config(verify_full(database.url(), &front, &pki.ca_file)),
        "probe",
    )
    .await
    .expect("verify-full connects when the CA is trusted");
    db.migrate(Migrations::NONE)
        .await
        .expect("migrate over TLS");
    db.ping().await.expect("the store answers over TLS");
    assert!(front.handshakes() >= 1, "the store spoke TLS to the front");
    db.close().await;
}

#[tokio::test]
async fn verify_full_refuses_a_server_whose_certificate_it_cannot_verify() {
    let Some(database) = fresh_postgres_database().await else {
        return;
    };
    let (pki, stranger) = (TestPki::generate(), TestPki::generate());
    let front = TlsFront::start(&pki, &upstream(), Before::PostgresSslRequest, false).await;
    let url = verify_full(database.url(), &front, &stranger.ca_file);
    let err = Db::connect(&config(url), "probe")
        .await
        .expect_err("a certificate from an untrusted CA is refused");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "the error says why: {err}"
    );
    assert_eq!(front.handshakes(), 0, "no session was established");
}
