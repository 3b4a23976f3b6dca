//! Placeholder: every RPC answers UNIMPLEMENTED until the service is built.

use futures::stream::BoxStream;
use tonic::{Request, Response, Status};
use yimen_platform::db::Db;
use yimen_proto::v1::analysis_service_server::AnalysisService;
use yimen_proto::v1::*;

use crate::AnalysisConfig;

pub struct Api {
    #[allow(dead_code)]
    db: Db,
}

impl Api {
    pub fn new(db: Db, _config: &AnalysisConfig) -> Self {
        Self { db }
    }
}

#[tonic::async_trait]
impl AnalysisService for Api {
    async fn get_situation(
        &self,
        _request: Request<GetSituationRequest>,
    ) -> Result<Response<Situation>, Status> {
        Err(Status::unimplemented("GetSituation"))
    }

    async fn get_trends(
        &self,
        _request: Request<GetTrendsRequest>,
    ) -> Result<Response<Trends>, Status> {
        Err(Status::unimplemented("GetTrends"))
    }

    async fn get_hotspots(
        &self,
        _request: Request<GetHotspotsRequest>,
    ) -> Result<Response<Hotspots>, Status> {
        Err(Status::unimplemented("GetHotspots"))
    }

    async fn list_alerts(
        &self,
        _request: Request<ListAlertsRequest>,
    ) -> Result<Response<ListAlertsResponse>, Status> {
        Err(Status::unimplemented("ListAlerts"))
    }

    async fn acknowledge_alert(
        &self,
        _request: Request<AcknowledgeAlertRequest>,
    ) -> Result<Response<Alert>, Status> {
        Err(Status::unimplemented("AcknowledgeAlert"))
    }

    async fn get_case_risk(
        &self,
        _request: Request<GetCaseRiskRequest>,
    ) -> Result<Response<CaseRisk>, Status> {
        Err(Status::unimplemented("GetCaseRisk"))
    }

    async fn get_recommendations(
        &self,
        _request: Request<GetRecommendationsRequest>,
    ) -> Result<Response<Recommendations>, Status> {
        Err(Status::unimplemented("GetRecommendations"))
    }

    type WatchAlertsStream = BoxStream<'static, Result<Alert, Status>>;

    async fn watch_alerts(
        &self,
        _request: Request<ListAlertsRequest>,
    ) -> Result<Response<Self::WatchAlertsStream>, Status> {
        Err(Status::unimplemented("WatchAlerts"))
    }
}
