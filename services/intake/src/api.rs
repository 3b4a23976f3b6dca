//! The IntakeService gRPC API, thin: each RPC calls its use case in `app` with the caller's
//! scope, masks the petitioners of each case it answers as the caller may see them
//! (`domain::masking`), and maps the answer onto status codes (INVALID_ARGUMENT with field
//! violations, NOT_FOUND, ...).

use std::sync::Arc;

use futures::stream::BoxStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use yimen_platform::auth::{Principal, RateLimiter, Scope};
use yimen_platform::db::Db;
use yimen_platform::overload::Overload;
use yimen_platform::seal::Keyring;
use yimen_proto::v1::intake_service_server::IntakeService;
use yimen_proto::v1::*;

use crate::IntakeConfig;
use crate::app::Intake;
use crate::domain::Disclosure;

pub struct Api {
    app: Intake,
    /// Status queries carry no token, so they are held to a rate per peer address instead.
    status_limit: Option<RateLimiter>,
    /// Refuses new cases and evaluations while the outbox backlog or the connection waits are
    /// past their bounds.
    overload: Arc<Overload>,
    /// Ends WatchCase streams when the process stops.
    shutdown: CancellationToken,
}

impl Api {
    /// With an overload check of `config`'s bounds that nothing watches yet, so it admits
    /// every call: the service gives it its watched one ([`Api::with_overload`]).
    pub fn new(db: Db, config: &IntakeConfig, keyring: Arc<Keyring>) -> Self {
        Self {
            app: Intake::new(db, config, keyring),
            status_limit: RateLimiter::per_minute(
                config.status_rate_per_min,
                config.status_rate_burst,
            ),
            overload: Arc::new(Overload::new(config.overload_limits())),
            shutdown: CancellationToken::new(),
        }
    }

    /// Streams end when `shutdown` is cancelled.
    pub fn ending_on(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Checks calls against `overload`, which a watcher keeps current.
    pub fn with_overload(mut self, overload: Arc<Overload>) -> Self {
        self.overload = overload;
        self
    }
}

/// `case` as the call's caller may see it: its petitioners masked unless it may see them.
fn shown_to<T>(request: &Request<T>, mut case: Case) -> Response<Case> {
    let caller = request.extensions().get::<Principal>();
    Disclosure::to(caller, &case).apply(&mut case);
    Response::new(case)
}

#[tonic::async_trait]
impl IntakeService for Api {
    async fn submit_case(
        &self,
        request: Request<SubmitCaseRequest>,
    ) -> Result<Response<SubmitCaseResponse>, Status> {
        self.overload.admit()?;
        self.app
            .submit(request.get_ref(), &Scope::of(&request))
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn get_case(&self, request: Request<GetCaseRequest>) -> Result<Response<Case>, Status> {
        self.app
            .get(request.get_ref(), &Scope::of(&request))
            .await
            .map(|case| shown_to(&request, case))
            .map_err(Status::from)
    }

    /// Summaries carry no petitioner, so there is nothing in them to mask.
    async fn list_cases(
        &self,
        request: Request<ListCasesRequest>,
    ) -> Result<Response<ListCasesResponse>, Status> {
        self.app
            .list(request.get_ref(), &Scope::of(&request))
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn add_supplement(
        &self,
        request: Request<AddSupplementRequest>,
    ) -> Result<Response<Case>, Status> {
        self.app
            .add_supplement(request.get_ref(), &Scope::of(&request))
            .await
            .map(|case| shown_to(&request, case))
            .map_err(Status::from)
    }

    async fn withdraw_case(
        &self,
        request: Request<WithdrawCaseRequest>,
    ) -> Result<Response<Case>, Status> {
        self.app
            .withdraw(request.get_ref(), &Scope::of(&request))
            .await
            .map(|case| shown_to(&request, case))
            .map_err(Status::from)
    }

    async fn submit_evaluation(
        &self,
        request: Request<SubmitEvaluationRequest>,
    ) -> Result<Response<Case>, Status> {
        self.overload.admit()?;
        self.app
            .evaluate(request.get_ref())
            .await
            .map(|case| shown_to(&request, case))
            .map_err(Status::from)
    }

    async fn request_review(
        &self,
        request: Request<RequestReviewRequest>,
    ) -> Result<Response<Case>, Status> {
        self.overload.admit()?;
        self.app
            .request_review(request.get_ref(), &Scope::of(&request))
            .await
            .map(|case| shown_to(&request, case))
            .map_err(Status::from)
    }

    /// No token: the query code is the credential. The peer's IP (not its port, which changes
    /// with each connection) is the caller whose rate is limited; a call whose peer is unknown
    /// shares one bucket with every other such call.
    async fn get_case_status(
        &self,
        request: Request<GetCaseStatusRequest>,
    ) -> Result<Response<CaseStatusView>, Status> {
        if let Some(limit) = &self.status_limit {
            let peer = request
                .remote_addr()
                .map_or_else(|| "unknown".to_string(), |a| a.ip().to_string());
            limit.admit(&format!("status:{peer}"))?;
        }
        self.app
            .status(request.get_ref())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    type WatchCaseStream = BoxStream<'static, Result<TimelineEntry, Status>>;

    async fn watch_case(
        &self,
        request: Request<GetCaseRequest>,
    ) -> Result<Response<Self::WatchCaseStream>, Status> {
        self.app
            .watch(
                request.get_ref(),
                &Scope::of(&request),
                self.shutdown.clone(),
            )
            .await
            .map(Response::new)
            .map_err(Status::from)
    }
}
