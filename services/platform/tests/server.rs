//! The gRPC server setup: readiness follows the store (a broker outage shows as health detail,
//! not as a lost front door), and turns NOT_SERVING the moment shutdown starts, while calls in flight are still being drained; with auth on,
//! every call but health needs a token whose role the policy allows.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use yimen_platform::auth::{Auth, AuthConfig, Principal, Role, Signer, generate_keys};
use yimen_platform::bus::{Bus, MemoryBus};
use yimen_platform::db::Migrations;
use yimen_platform::server::{BROKER, DATABASE, READINESS, Readiness, ServeOptions, serve};
use yimen_proto::v1::assessment_service_client::AssessmentServiceClient;
use yimen_proto::v1::assessment_service_server::{AssessmentService, AssessmentServiceServer};
use yimen_proto::v1::{
    Bulletin, CheckInRequest, CheckInResponse, GetMediatorSubsidiesRequest,
    GetMonthlyBulletinRequest, GetQuarterlyAssessmentRequest, GetScorecardRequest,
    GetScorecardResponse, ListNegativeListRequest, ListNegativeListResponse, MediatorSubsidies,
    QuarterlyAssessment, SetSubsidyGradesRequest, SetSubsidyGradesResponse,
};

const MIGRATIONS: Migrations = Migrations::NONE;

/// A server with no routes over `db` and `bus`, checking them every 50 ms; its health
/// client, the token that stops it and its task.
async fn serve_health(
    db: yimen_platform::db::Db,
    bus: Arc<dyn Bus>,
) -> (
    HealthClient<tonic::transport::Channel>,
    CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
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
            stores: vec![db],
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
    (HealthClient::new(channel), shutdown, server)
}

#[tokio::test]
async fn readiness_is_serving_while_store_and_bus_answer_and_not_serving_once_shutdown_starts() {
    let db = yimen_testkit::stores::sqlite_store("probe", MIGRATIONS).await;
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(Default::default()));
    let (mut health, shutdown, server) = serve_health(db.db(), bus).await;
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
    let health = readiness.probe().await;
    assert_eq!(health.broker, Ok(()), "the broker answers");
    assert_eq!(
        health.statuses(),
        [(READINESS, false), (DATABASE, false), (BROKER, true)]
    );
}

#[tokio::test]
async fn readiness_stays_serving_while_only_the_broker_is_away_and_the_detail_names_it() {
    let db = yimen_testkit::stores::sqlite_store("probe", MIGRATIONS).await;
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(Default::default()));
    // A closed bus answers no ping: the broker is away.
    bus.close().await;
    let (health, shutdown, server) = serve_health(db.db(), bus).await;
    let status_of = |name: &'static str| {
        let mut health = health.clone();
        async move {
            health
                .check(HealthCheckRequest {
                    service: name.into(),
                })
                .await
                .expect("a health answer")
                .into_inner()
                .status()
        }
    };
    let ready = tokio::time::timeout(Duration::from_secs(10), async {
        while status_of(READINESS).await != ServingStatus::Serving {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(ready.is_ok(), "readiness never SERVING with the store up");
    assert_eq!(status_of(DATABASE).await, ServingStatus::Serving);
    assert_eq!(status_of(BROKER).await, ServingStatus::NotServing);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
}

/// A stand-in for a service: `CheckIn` answers only when the auth layer handed it the caller.
struct Echo;

#[tonic::async_trait]
impl AssessmentService for Echo {
    async fn check_in(
        &self,
        request: tonic::Request<CheckInRequest>,
    ) -> Result<tonic::Response<CheckInResponse>, tonic::Status> {
        match request.extensions().get::<Principal>() {
            Some(p) if p.role == Role::Department && p.department.as_deref() == Some("D01") => {
                Ok(tonic::Response::new(CheckInResponse::default()))
            }
            other => Err(tonic::Status::internal(format!("principal: {other:?}"))),
        }
    }
    async fn get_scorecard(
        &self,
        _: tonic::Request<GetScorecardRequest>,
    ) -> Result<tonic::Response<GetScorecardResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented(""))
    }
    async fn get_monthly_bulletin(
        &self,
        _: tonic::Request<GetMonthlyBulletinRequest>,
    ) -> Result<tonic::Response<Bulletin>, tonic::Status> {
        Err(tonic::Status::unimplemented(""))
    }
    async fn get_quarterly_assessment(
        &self,
        _: tonic::Request<GetQuarterlyAssessmentRequest>,
    ) -> Result<tonic::Response<QuarterlyAssessment>, tonic::Status> {
        Err(tonic::Status::unimplemented(""))
    }
    async fn list_negative_list(
        &self,
        _: tonic::Request<ListNegativeListRequest>,
    ) -> Result<tonic::Response<ListNegativeListResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented(""))
    }
    async fn get_mediator_subsidies(
        &self,
        _: tonic::Request<GetMediatorSubsidiesRequest>,
    ) -> Result<tonic::Response<MediatorSubsidies>, tonic::Status> {
        Err(tonic::Status::unimplemented(""))
    }
    async fn set_subsidy_grades(
        &self,
        _: tonic::Request<SetSubsidyGradesRequest>,
    ) -> Result<tonic::Response<SetSubsidyGradesResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented(""))
    }
}

fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

#[tokio::test]
async fn with_auth_on_health_is_open_and_every_other_call_needs_a_token_of_an_allowed_role() {
    let dir = yimen_testkit::stores::temp_dir("yimen-auth-");
    let keys = generate_keys(dir.path()).unwrap();
    let config = AuthConfig {
        verify_keys_file: Some(keys.jwks.clone()),
        ..AuthConfig::default()
    };
    let signer = Signer::from_file(&keys.signing_key, &config).unwrap();
    let token = |role: Role, department: Option<&str>| {
        let principal = Principal {
            subject: "clerk-7".into(),
            role,
            department: department.map(Into::into),
            committee: None,
        };
        signer.issue(&principal, Duration::from_secs(300)).unwrap()
    };

    let db = yimen_testkit::stores::sqlite_store("probe", MIGRATIONS).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let mut options = ServeOptions::new("probe");
    options.auth = Some(Arc::new(Auth::load(&config).unwrap()));
    let server = tokio::spawn(serve(
        listener,
        tonic::service::Routes::new(AssessmentServiceServer::new(Echo)),
        Readiness {
            stores: vec![db.db()],
            bus: Arc::new(MemoryBus::new(Default::default())),
        },
        options,
        shutdown.clone(),
    ));
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();

    // Probes hold no token.
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest::default())
        .await
        .expect("health needs no token")
        .into_inner();
    assert_eq!(health.status(), ServingStatus::Serving);

    let mut assessment = AssessmentServiceClient::new(channel.clone());
    let status = assessment
        .check_in(CheckInRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    assert!(
        status.message().starts_with("no bearer token"),
        "{status:?}"
    );

    let status = assessment
        .check_in(bearer(CheckInRequest::default(), "forged"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");

    let status = assessment
        .check_in(bearer(
            CheckInRequest::default(),
            &token(Role::Analyst, None),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert_eq!(
        status.message(),
        "role `analyst` may not call yimen.v1.AssessmentService/CheckIn; it needs one of: department, admin"
    );

    assessment
        .check_in(bearer(
            CheckInRequest::default(),
            &token(Role::Department, Some("D01")),
        ))
        .await
        .expect("the department checks in, and the service sees who it is");

    // Reflection is behind the same gate, open to every authenticated role.
    let mut reflection = ServerReflectionClient::new(channel);
    let list = || {
        futures::stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }])
    };
    let status = reflection.server_reflection_info(list()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let mut answers = reflection
        .server_reflection_info(bearer(list(), &token(Role::Auditor, None)))
        .await
        .expect("reflection with a token")
        .into_inner();
    assert!(answers.message().await.unwrap().is_some());
    drop(answers);

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
}
