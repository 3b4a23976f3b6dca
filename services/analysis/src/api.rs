//! The AnalysisService gRPC API: a thin edge over `queries`; every answer maps the platform's
//! errors onto status codes (INVALID_ARGUMENT with field violations, NOT_FOUND, ...).

use futures::stream::BoxStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use yimen_platform::db::Db;
use yimen_proto::v1::analysis_service_server::AnalysisService;
use yimen_proto::v1::*;

use crate::AnalysisConfig;
use crate::app;

pub struct Api {
    db: Db,
    collective_threshold: u32,
    /// Ends WatchAlerts streams when the process stops.
    shutdown: CancellationToken,
}

impl Api {
    pub fn new(db: Db, config: &AnalysisConfig) -> Self {
        Self {
            db,
            collective_threshold: config.collective_threshold,
            shutdown: CancellationToken::new(),
        }
    }

    /// Streams end when `shutdown` is cancelled.
    pub fn ending_on(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }
}

fn answer<T>(result: Result<T, yimen_platform::error::Error>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl AnalysisService for Api {
    async fn get_situation(
        &self,
        request: Request<GetSituationRequest>,
    ) -> Result<Response<Situation>, Status> {
        answer(app::situation(&self.db, request.get_ref(), self.collective_threshold).await)
    }

    async fn get_trends(
        &self,
        request: Request<GetTrendsRequest>,
    ) -> Result<Response<Trends>, Status> {
        answer(app::trends(&self.db, request.get_ref()).await)
    }

    async fn get_hotspots(
        &self,
        request: Request<GetHotspotsRequest>,
    ) -> Result<Response<Hotspots>, Status> {
        answer(app::hotspots(&self.db, request.get_ref()).await)
    }

    async fn list_alerts(
        &self,
        request: Request<ListAlertsRequest>,
    ) -> Result<Response<ListAlertsResponse>, Status> {
        answer(app::list_alerts(&self.db, request.get_ref()).await)
    }

    async fn acknowledge_alert(
        &self,
        request: Request<AcknowledgeAlertRequest>,
    ) -> Result<Response<Alert>, Status> {
        answer(app::acknowledge_alert(&self.db, request.get_ref()).await)
    }

    async fn get_case_risk(
        &self,
        request: Request<GetCaseRiskRequest>,
    ) -> Result<Response<CaseRisk>, Status> {
        answer(app::case_risk(&self.db, request.get_ref()).await)
    }

    async fn get_recommendations(
        &self,
        request: Request<GetRecommendationsRequest>,
    ) -> Result<Response<Recommendations>, Status> {
        answer(app::recommendations(&self.db, request.get_ref(), self.collective_threshold).await)
    }

    type WatchAlertsStream = BoxStream<'static, Result<Alert, Status>>;

    async fn watch_alerts(
        &self,
        request: Request<ListAlertsRequest>,
    ) -> Result<Response<Self::WatchAlertsStream>, Status> {
        answer(app::watch_alerts(
            self.db.clone(),
            self.shutdown.clone(),
            request.get_ref(),
        ))
    }
}
