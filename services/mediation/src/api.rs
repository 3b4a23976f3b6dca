//! Placeholder: every RPC answers UNIMPLEMENTED until the service is built.

use tonic::{Request, Response, Status};
use yimen_platform::db::Db;
use yimen_proto::v1::mediation_service_server::MediationService;
use yimen_proto::v1::*;

use crate::MediationConfig;

pub struct Api {
    #[allow(dead_code)]
    db: Db,
}

impl Api {
    pub fn new(db: Db, _config: &MediationConfig) -> Self {
        Self { db }
    }
}

#[tonic::async_trait]
impl MediationService for Api {
    async fn list_committees(
        &self,
        _request: Request<ListCommitteesRequest>,
    ) -> Result<Response<ListCommitteesResponse>, Status> {
        Err(Status::unimplemented("ListCommittees"))
    }

    async fn register_mediator(
        &self,
        _request: Request<RegisterMediatorRequest>,
    ) -> Result<Response<Mediator>, Status> {
        Err(Status::unimplemented("RegisterMediator"))
    }

    async fn list_mediators(
        &self,
        _request: Request<ListMediatorsRequest>,
    ) -> Result<Response<ListMediatorsResponse>, Status> {
        Err(Status::unimplemented("ListMediators"))
    }

    async fn get_mediation(
        &self,
        _request: Request<GetMediationRequest>,
    ) -> Result<Response<MediationFile>, Status> {
        Err(Status::unimplemented("GetMediation"))
    }

    async fn list_mediations(
        &self,
        _request: Request<ListMediationsRequest>,
    ) -> Result<Response<ListMediationsResponse>, Status> {
        Err(Status::unimplemented("ListMediations"))
    }

    async fn open_mediation(
        &self,
        _request: Request<OpenMediationRequest>,
    ) -> Result<Response<MediationFile>, Status> {
        Err(Status::unimplemented("OpenMediation"))
    }

    async fn schedule_session(
        &self,
        _request: Request<ScheduleSessionRequest>,
    ) -> Result<Response<MediationFile>, Status> {
        Err(Status::unimplemented("ScheduleSession"))
    }

    async fn record_outcome(
        &self,
        _request: Request<RecordOutcomeRequest>,
    ) -> Result<Response<MediationFile>, Status> {
        Err(Status::unimplemented("RecordOutcome"))
    }

    async fn request_court_confirmation(
        &self,
        _request: Request<RequestCourtConfirmationRequest>,
    ) -> Result<Response<MediationFile>, Status> {
        Err(Status::unimplemented("RequestCourtConfirmation"))
    }

    async fn record_court_decision(
        &self,
        _request: Request<RecordCourtDecisionRequest>,
    ) -> Result<Response<MediationFile>, Status> {
        Err(Status::unimplemented("RecordCourtDecision"))
    }

    async fn record_performance(
        &self,
        _request: Request<RecordPerformanceRequest>,
    ) -> Result<Response<Mediator>, Status> {
        Err(Status::unimplemented("RecordPerformance"))
    }
}
