//! Placeholder: every RPC answers UNIMPLEMENTED until the service is built.

use tonic::{Request, Response, Status};
use yimen_platform::db::Db;
use yimen_proto::v1::assessment_service_server::AssessmentService;
use yimen_proto::v1::*;

use crate::AssessmentConfig;

pub struct Api {
    #[allow(dead_code)]
    db: Db,
}

impl Api {
    pub fn new(db: Db, _config: &AssessmentConfig) -> Self {
        Self { db }
    }
}

#[tonic::async_trait]
impl AssessmentService for Api {
    async fn check_in(
        &self,
        _request: Request<CheckInRequest>,
    ) -> Result<Response<CheckInResponse>, Status> {
        Err(Status::unimplemented("CheckIn"))
    }

    async fn get_scorecard(
        &self,
        _request: Request<GetScorecardRequest>,
    ) -> Result<Response<GetScorecardResponse>, Status> {
        Err(Status::unimplemented("GetScorecard"))
    }

    async fn get_monthly_bulletin(
        &self,
        _request: Request<GetMonthlyBulletinRequest>,
    ) -> Result<Response<Bulletin>, Status> {
        Err(Status::unimplemented("GetMonthlyBulletin"))
    }

    async fn get_quarterly_assessment(
        &self,
        _request: Request<GetQuarterlyAssessmentRequest>,
    ) -> Result<Response<QuarterlyAssessment>, Status> {
        Err(Status::unimplemented("GetQuarterlyAssessment"))
    }

    async fn list_negative_list(
        &self,
        _request: Request<ListNegativeListRequest>,
    ) -> Result<Response<ListNegativeListResponse>, Status> {
        Err(Status::unimplemented("ListNegativeList"))
    }

    async fn get_mediator_subsidies(
        &self,
        _request: Request<GetMediatorSubsidiesRequest>,
    ) -> Result<Response<MediatorSubsidies>, Status> {
        Err(Status::unimplemented("GetMediatorSubsidies"))
    }
}
