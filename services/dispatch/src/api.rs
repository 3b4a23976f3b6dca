//! The DispatchService gRPC API: a thin edge over the dispatch process; every answer maps the
//! platform's errors onto status codes (INVALID_ARGUMENT with field violations, NOT_FOUND, ...).

use std::sync::Arc;

use futures::stream::BoxStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use yimen_platform::auth::Scope;
use yimen_platform::bus::Bus;
use yimen_platform::db::Db;
use yimen_proto::v1::dispatch_service_server::DispatchService;
use yimen_proto::v1::*;

use crate::DispatchConfig;
use crate::app::{self, Deadlines};
use crate::domain::DepartmentSpec;
use crate::domain::decision::{Forwarding, Refusal, SupplementRequest};
use crate::domain::joint::{CoHandlers, InstructionRequest, InstructionsQuery};
use crate::domain::requests::{
    Accept, AssignmentsQuery, Escalation, ExtensionDecision, ExtensionRequest, LeaderAssignment,
    Leave, Referral, Reply, Return, WatchQuery,
};
use crate::domain::review::ReviewDecision;
use crate::domain::rules;
use crate::domain::supervision::Sweep;
use crate::joint;

pub struct Api {
    db: Db,
    bus: Arc<dyn Bus>,
    config: DispatchConfig,
    deadlines: Deadlines,
    /// Ends WatchAssignments streams when the process stops.
    shutdown: CancellationToken,
}

impl Api {
    pub fn new(db: Db, bus: Arc<dyn Bus>, config: &DispatchConfig) -> Self {
        Self {
            db,
            bus,
            config: config.clone(),
            deadlines: Deadlines::new(config),
            shutdown: CancellationToken::new(),
        }
    }

    /// Streams end when `shutdown` is cancelled.
    pub fn ending_on(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }
}

#[tonic::async_trait]
impl DispatchService for Api {
    async fn join_department(
        &self,
        request: Request<JoinDepartmentRequest>,
    ) -> Result<Response<Department>, Status> {
        let request = DepartmentSpec::parse(request.get_ref())?;
        app::join_department(&self.db, &self.bus, &self.config, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn leave_department(
        &self,
        request: Request<LeaveDepartmentRequest>,
    ) -> Result<Response<LeaveDepartmentResponse>, Status> {
        let request = Leave::parse(request.get_ref())?;
        app::leave_department(&self.db, &self.deadlines, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn list_departments(
        &self,
        request: Request<ListDepartmentsRequest>,
    ) -> Result<Response<ListDepartmentsResponse>, Status> {
        app::list_departments(&self.db, request.get_ref())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn list_assignments(
        &self,
        request: Request<ListAssignmentsRequest>,
    ) -> Result<Response<ListAssignmentsResponse>, Status> {
        let scope = Scope::of(&request);
        let request = AssignmentsQuery::parse(request.get_ref())?;
        app::list_assignments(&self.db, &scope, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn accept_assignment(
        &self,
        request: Request<AcceptAssignmentRequest>,
    ) -> Result<Response<Assignment>, Status> {
        let scope = Scope::of(&request);
        let request = Accept::parse(request.get_ref())?;
        app::accept(&self.db, &scope, &self.deadlines, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn return_assignment(
        &self,
        request: Request<ReturnAssignmentRequest>,
    ) -> Result<Response<ReturnAssignmentResponse>, Status> {
        let scope = Scope::of(&request);
        let request = Return::parse(request.get_ref())?;
        let returns = self.config.problem_case_returns;
        app::return_assignment(&self.db, &scope, &self.deadlines, returns, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn reply_assignment(
        &self,
        request: Request<ReplyAssignmentRequest>,
    ) -> Result<Response<Assignment>, Status> {
        let scope = Scope::of(&request);
        let request = Reply::parse(request.get_ref())?;
        app::reply(&self.db, &scope, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn refer_to_mediation(
        &self,
        request: Request<ReferToMediationRequest>,
    ) -> Result<Response<Assignment>, Status> {
        let scope = Scope::of(&request);
        let request = Referral::parse(request.get_ref())?;
        app::refer_to_mediation(&self.db, &scope, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn set_routing_rules(
        &self,
        request: Request<SetRoutingRulesRequest>,
    ) -> Result<Response<SetRoutingRulesResponse>, Status> {
        let rules = rules::parse(request.get_ref())?;
        app::set_routing_rules(&self.db, rules)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn request_extension(
        &self,
        request: Request<RequestExtensionRequest>,
    ) -> Result<Response<Assignment>, Status> {
        let scope = Scope::of(&request);
        let request = ExtensionRequest::parse(request.get_ref())?;
        app::request_extension(&self.db, &scope, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn decide_extension(
        &self,
        request: Request<DecideExtensionRequest>,
    ) -> Result<Response<Assignment>, Status> {
        let scope = Scope::of(&request);
        let request = ExtensionDecision::parse(request.get_ref())?;
        app::decide_extension(&self.db, &scope, &self.deadlines, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn escalate(
        &self,
        request: Request<EscalateRequest>,
    ) -> Result<Response<Assignment>, Status> {
        let scope = Scope::of(&request);
        let request = Escalation::parse(request.get_ref())?;
        app::escalate(&self.db, &scope, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn assign_leader(
        &self,
        request: Request<AssignLeaderRequest>,
    ) -> Result<Response<Assignment>, Status> {
        let scope = Scope::of(&request);
        let request = LeaderAssignment::parse(request.get_ref())?;
        app::assign_leader(&self.db, &scope, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn transfer_assignment(
        &self,
        request: Request<TransferAssignmentRequest>,
    ) -> Result<Response<TransferAssignmentResponse>, Status> {
        let scope = Scope::of(&request);
        let request = crate::domain::transfer::Transfer::parse(request.get_ref())?;
        crate::moves::transfer(&self.db, &scope, &self.deadlines, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn refuse_assignment(
        &self,
        request: Request<RefuseAssignmentRequest>,
    ) -> Result<Response<Assignment>, Status> {
        let scope = Scope::of(&request);
        let request = Refusal::parse(request.get_ref())?;
        app::refuse(&self.db, &scope, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn forward_assignment(
        &self,
        request: Request<ForwardAssignmentRequest>,
    ) -> Result<Response<Assignment>, Status> {
        let scope = Scope::of(&request);
        let request = Forwarding::parse(request.get_ref())?;
        app::forward(&self.db, &scope, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn request_supplement(
        &self,
        request: Request<RequestSupplementRequest>,
    ) -> Result<Response<Assignment>, Status> {
        let scope = Scope::of(&request);
        let request = SupplementRequest::parse(request.get_ref())?;
        app::request_supplement(&self.db, &scope, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn decide_review(
        &self,
        request: Request<DecideReviewRequest>,
    ) -> Result<Response<Assignment>, Status> {
        let scope = Scope::of(&request);
        let request = ReviewDecision::parse(request.get_ref())?;
        app::decide_review(&self.db, &scope, &self.deadlines, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn add_co_handlers(
        &self,
        request: Request<AddCoHandlersRequest>,
    ) -> Result<Response<AddCoHandlersResponse>, Status> {
        let scope = Scope::of(&request);
        let request = CoHandlers::parse(request.get_ref())?;
        joint::add_co_handlers(&self.db, &scope, &self.deadlines, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn sweep_similar_cases(
        &self,
        request: Request<SweepSimilarCasesRequest>,
    ) -> Result<Response<SweepSimilarCasesResponse>, Status> {
        let scope = Scope::of(&request);
        let request = Sweep::parse(request.get_ref())?;
        let max = self.config.sweep_max_cases;
        crate::supervision::sweep_similar_cases(&self.db, &scope, &self.deadlines, max, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn record_instruction(
        &self,
        request: Request<RecordInstructionRequest>,
    ) -> Result<Response<Instruction>, Status> {
        let scope = Scope::of(&request);
        let request = InstructionRequest::parse(request.get_ref())?;
        joint::record_instruction(&self.db, &scope, &self.deadlines, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn list_instructions(
        &self,
        request: Request<ListInstructionsRequest>,
    ) -> Result<Response<ListInstructionsResponse>, Status> {
        let request = InstructionsQuery::parse(request.get_ref())?;
        joint::list_instructions(&self.db, request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    type WatchAssignmentsStream = BoxStream<'static, Result<Assignment, Status>>;

    async fn watch_assignments(
        &self,
        request: Request<ListAssignmentsRequest>,
    ) -> Result<Response<Self::WatchAssignmentsStream>, Status> {
        let scope = Scope::of(&request);
        let request = WatchQuery::parse(request.get_ref())?;
        app::watch_assignments(&self.db, &scope, self.shutdown.clone(), request)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }
}
