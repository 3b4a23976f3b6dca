//! The MediationService gRPC API: a thin edge over the mediation process; every answer maps
//! the platform's errors onto status codes (INVALID_ARGUMENT with field violations,
//! NOT_FOUND, FAILED_PRECONDITION, ...).

use std::sync::Arc;

use tonic::{Request, Response, Status};
use yimen_platform::auth::Scope;
use yimen_platform::db::Db;
use yimen_platform::seal::Keyring;
use yimen_proto::v1::mediation_service_server::MediationService;
use yimen_proto::v1::*;

use crate::MediationConfig;
use crate::app;

pub struct Api {
    db: Db,
    /// Seals the agreements' parties in the store and opens them for answers.
    keyring: Arc<Keyring>,
}

impl Api {
    pub fn new(db: Db, _config: &MediationConfig, keyring: Arc<Keyring>) -> Self {
        Self { db, keyring }
    }
}

/// The process's answer as a gRPC response.
fn answer<T>(result: Result<T, yimen_platform::error::Error>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl MediationService for Api {
    async fn list_committees(
        &self,
        _request: Request<ListCommitteesRequest>,
    ) -> Result<Response<ListCommitteesResponse>, Status> {
        answer(app::list_committees(&self.db).await)
    }

    async fn register_mediator(
        &self,
        request: Request<RegisterMediatorRequest>,
    ) -> Result<Response<Mediator>, Status> {
        answer(app::register_mediator(&self.db, request.get_ref()).await)
    }

    async fn list_mediators(
        &self,
        request: Request<ListMediatorsRequest>,
    ) -> Result<Response<ListMediatorsResponse>, Status> {
        answer(app::list_mediators(&self.db, request.get_ref()).await)
    }

    async fn get_mediation(
        &self,
        request: Request<GetMediationRequest>,
    ) -> Result<Response<MediationFile>, Status> {
        answer(
            app::get_mediation(
                &self.db,
                &self.keyring,
                &Scope::of(&request),
                request.get_ref(),
            )
            .await,
        )
    }

    async fn list_mediations(
        &self,
        request: Request<ListMediationsRequest>,
    ) -> Result<Response<ListMediationsResponse>, Status> {
        answer(
            app::list_mediations(
                &self.db,
                &self.keyring,
                &Scope::of(&request),
                request.get_ref(),
            )
            .await,
        )
    }

    async fn open_mediation(
        &self,
        request: Request<OpenMediationRequest>,
    ) -> Result<Response<MediationFile>, Status> {
        answer(app::open_mediation(&self.db, &self.keyring, request.get_ref()).await)
    }

    async fn schedule_session(
        &self,
        request: Request<ScheduleSessionRequest>,
    ) -> Result<Response<MediationFile>, Status> {
        answer(
            app::schedule_session(
                &self.db,
                &self.keyring,
                &Scope::of(&request),
                request.get_ref(),
            )
            .await,
        )
    }

    async fn record_outcome(
        &self,
        request: Request<RecordOutcomeRequest>,
    ) -> Result<Response<MediationFile>, Status> {
        answer(
            app::record_outcome(
                &self.db,
                &self.keyring,
                &Scope::of(&request),
                request.get_ref(),
            )
            .await,
        )
    }

    async fn request_court_confirmation(
        &self,
        request: Request<RequestCourtConfirmationRequest>,
    ) -> Result<Response<MediationFile>, Status> {
        answer(
            app::request_court_confirmation(
                &self.db,
                &self.keyring,
                &Scope::of(&request),
                request.get_ref(),
            )
            .await,
        )
    }

    async fn record_court_decision(
        &self,
        request: Request<RecordCourtDecisionRequest>,
    ) -> Result<Response<MediationFile>, Status> {
        answer(
            app::record_court_decision(
                &self.db,
                &self.keyring,
                &Scope::of(&request),
                request.get_ref(),
            )
            .await,
        )
    }

    async fn record_performance(
        &self,
        request: Request<RecordPerformanceRequest>,
    ) -> Result<Response<Mediator>, Status> {
        answer(app::record_performance(&self.db, &self.keyring, request.get_ref()).await)
    }
}
