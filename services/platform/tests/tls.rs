//! TLS on the gRPC server, by `[server.tls]`: with a certificate it answers TLS clients only;
//! with a client CA too, only clients presenting a certificate that CA signed; a bad or
//! missing file fails at start, naming the setting and the file.

use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use yimen_platform::bus::{Bus, MemoryBus};
use yimen_platform::db::Migrations;
use yimen_platform::server::{Readiness, ServeOptions, TlsConfig, serve};
use yimen_testkit::tls::TestPki;

/// A server on a free port of 127.0.0.1, stopped when dropped.
struct Server {
    addr: std::net::SocketAddr,
    shutdown: CancellationToken,
    _store: yimen_testkit::stores::TestStore,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(tls: &TlsConfig) -> Server {
    let store = yimen_testkit::stores::sqlite_store("probe", Migrations::NONE).await;
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(Default::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let mut options = ServeOptions::new("probe");
    options.tls = tls.load().expect("load the TLS settings");
    tokio::spawn(serve(
        listener,
        tonic::service::Routes::default(),
        Readiness {
            stores: vec![(*store).clone()],
            bus,
        },
        options,
        shutdown.clone(),
    ));
    Server {
        addr,
        shutdown,
        _store: store,
    }
}

fn server_tls(pki: &TestPki, mtls: bool) -> TlsConfig {
    TlsConfig {
        cert_file: Some(pki.server_cert_file.clone()),
        key_file: Some(pki.server_key_file.clone()),
        client_ca_file: mtls.then(|| pki.ca_file.clone()),
    }
}

fn pem(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// One health check at `url`, `tls` for https; the error when the connection or the call
/// fails.
async fn health_check(url: String, tls: Option<ClientTlsConfig>) -> Result<(), String> {
    let mut endpoint = Channel::from_shared(url).unwrap();
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).unwrap();
    }
    let channel = endpoint.connect().await.map_err(|e| format!("{e:?}"))?;
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

/// Trusts the test CA; presents the client certificate when `with_certificate`.
fn client_tls(pki: &TestPki, with_certificate: bool) -> ClientTlsConfig {
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem(&pki.ca_file)));
    if with_certificate {
        tls.identity(Identity::from_pem(
            pem(&pki.client_cert_file),
            pem(&pki.client_key_file),
        ))
    } else {
        tls
    }
}

#[tokio::test]
async fn tls_server_answers_a_tls_client_and_not_a_plaintext_one() {
    let pki = TestPki::generate();
    let server = start(&server_tls(&pki, false)).await;
    health_check(
        format!("https://{}", server.addr),
        Some(client_tls(&pki, false)),
    )
    .await
    .expect("a TLS client trusting the CA is answered");
    // The name in the certificate is checked too: localhost is in it.
    health_check(
        format!("https://localhost:{}", server.addr.port()),
        Some(client_tls(&pki, false)),
    )
    .await
    .expect("by name");
    assert!(
        health_check(format!("http://{}", server.addr), None)
            .await
            .is_err(),
        "a plaintext client is not answered"
    );
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_is_refused() {
    let pki = TestPki::generate();
    let other = TestPki::generate();
    let server = start(&server_tls(&pki, false)).await;
    assert!(
        health_check(
            format!("https://{}", server.addr),
            Some(client_tls(&other, false))
        )
        .await
        .is_err()
    );
}

#[tokio::test]
async fn with_a_client_ca_only_a_client_with_a_certificate_it_signed_is_answered() {
    let pki = TestPki::generate();
    let server = start(&server_tls(&pki, true)).await;
    let url = format!("https://{}", server.addr);
    health_check(url.clone(), Some(client_tls(&pki, true)))
        .await
        .expect("a client with a certificate the CA signed is answered");
    assert!(
        health_check(url.clone(), Some(client_tls(&pki, false)))
            .await
            .is_err(),
        "a client without a certificate is refused"
    );
    // A certificate from another CA is no better than none.
    let other = TestPki::generate();
    let stranger = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pem(&pki.ca_file)))
        .identity(Identity::from_pem(
            pem(&other.client_cert_file),
            pem(&other.client_key_file),
        ));
    assert!(
        health_check(url, Some(stranger)).await.is_err(),
        "a client with a certificate of another CA is refused"
    );
}

#[test]
fn unset_is_plaintext() {
    assert!(TlsConfig::default().load().unwrap().is_none());
}

#[test]
fn a_missing_or_bad_file_fails_at_load_naming_the_setting_and_the_file() {
    let pki = TestPki::generate();
    let missing = pki.dir().join("nowhere.pem");
    let mut tls = server_tls(&pki, true);
    tls.client_ca_file = Some(missing.clone());
    let err = tls.load().unwrap_err().to_string();
    assert!(err.contains("server.tls.client_ca_file"), "{err}");
    assert!(err.contains(&missing.display().to_string()), "{err}");

    let bad = pki.dir().join("bad.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let mut tls = server_tls(&pki, false);
    tls.cert_file = Some(bad.clone());
    let err = tls.load().unwrap_err().to_string();
    assert!(err.contains("server.tls.cert_file"), "{err}");
    assert!(err.contains(&bad.display().to_string()), "{err}");

    let mut tls = server_tls(&pki, false);
    tls.key_file = None;
    let err = tls.load().unwrap_err().to_string();
    assert!(err.contains("server.tls.key_file"), "{err}");
}
