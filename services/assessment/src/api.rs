//! The AssessmentService gRPC API: a thin edge over the reports; every answer maps the
//! platform's errors onto status codes (INVALID_ARGUMENT with field violations, NOT_FOUND).

use tonic::{Request, Response, Status};
use yimen_platform::db::Db;
use yimen_proto::v1::assessment_service_server::AssessmentService;
use yimen_proto::v1::*;

use crate::AssessmentConfig;
use crate::app;
use crate::domain::subsidy::Rates;

pub struct Api {
    db: Db,
    rates: Rates,
}

impl Api {
    pub fn new(db: Db, config: &AssessmentConfig) -> Self {
        Self {
            db,
            rates: config.subsidy_rates(),
        }
    }
}

#[tonic::async_trait]
impl AssessmentService for Api {
    async fn check_in(
        &self,
        request: Request<CheckInRequest>,
    ) -> Result<Response<CheckInResponse>, Status> {
        app::check_in(&self.db, request.get_ref())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn get_scorecard(
        &self,
        request: Request<GetScorecardRequest>,
    ) -> Result<Response<GetScorecardResponse>, Status> {
        app::get_scorecard(&self.db, request.get_ref())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn get_monthly_bulletin(
        &self,
        request: Request<GetMonthlyBulletinRequest>,
    ) -> Result<Response<Bulletin>, Status> {
        app::monthly_bulletin(&self.db, request.get_ref())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn get_quarterly_assessment(
        &self,
        request: Request<GetQuarterlyAssessmentRequest>,
    ) -> Result<Response<QuarterlyAssessment>, Status> {
        app::quarterly_assessment(&self.db, request.get_ref())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn list_negative_list(
        &self,
        request: Request<ListNegativeListRequest>,
    ) -> Result<Response<ListNegativeListResponse>, Status> {
        app::negative_list(&self.db, request.get_ref())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn get_mediator_subsidies(
        &self,
        request: Request<GetMediatorSubsidiesRequest>,
    ) -> Result<Response<MediatorSubsidies>, Status> {
        app::mediator_subsidies(&self.db, &self.rates, request.get_ref())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn set_subsidy_grades(
        &self,
        request: Request<SetSubsidyGradesRequest>,
    ) -> Result<Response<SetSubsidyGradesResponse>, Status> {
        app::set_subsidy_grades(&self.db, request.get_ref())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }
}
