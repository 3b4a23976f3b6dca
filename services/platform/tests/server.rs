//! The gRPC server setup: readiness follows the store and the broker, and turns NOT_SERVING
//! the moment shutdown starts, while calls in flight are still being drained.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use yimen_platform::bus::{Bus, MemoryBus};
use yimen_platform::db::Migrations;
use yimen_platform::server::{READINESS, Readiness, ServeOptions, serve};

const MIGRATIONS: Migrations = Migrations::NONE;

#[tokio::test]
async fn readiness_is_serving_while_store_and_bus_answer_and_not_serving_once_shutdown_starts() {
    let db = yimen_testkit::stores::sqlite_store("probe", MIGRATIONS).await;
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(Default::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let mut options = ServeOptions::new("probe");
    options.readiness_interval = Duration::from_millis(50);
    options.grace = Duration::from_secs(5);
    let server = tokio::spawn(serve(
        listener,
        tonic::service::Routes::default(),
        Readiness {
            stores: vec![db.clone()],
            bus,
        },
        options,
        shutdown.clone(),
    ));

    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let request = || HealthCheckRequest {
        service: READINESS.into(),
    };
    let mut watch = health.watch(request()).await.unwrap().into_inner();
    let mut seen = Vec::new();
    let serving = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(update)) = watch.message().await.transpose() {
            seen.push(update.status());
            if update.status() == ServingStatus::Serving {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(serving, Ok(true), "never SERVING: {seen:?}");

    // The watch stream is a call in flight: it sees the change before the server goes away.
    shutdown.cancel();
    let turned = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(update)) = watch.message().await.transpose() {
            if update.status() == ServingStatus::NotServing {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        turned,
        Ok(true),
        "readiness did not turn NOT_SERVING on shutdown"
    );
    drop(watch);
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stops within its grace")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn readiness_is_not_serving_while_the_store_is_down() {
    let db = yimen_testkit::stores::sqlite_store("probe", MIGRATIONS).await;
    db.close().await;
    let readiness = Readiness {
        stores: vec![db.db()],
        bus: Arc::new(MemoryBus::new(Default::default())),
    };
    let why = readiness
        .check()
        .await
        .expect_err("a closed store is not ready");
    assert!(why.contains("probe database"), "{why}");
}
