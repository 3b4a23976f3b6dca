//! `yimen.v1.AuditService`, served by every process (the one server setup adds it) over the
//! store of the service the server runs.

use tonic::{Request, Response, Status};
use yimen_proto::v1::audit_service_server::{AuditService, AuditServiceServer};
use yimen_proto::v1::{
    ChainReport, ListAnchorsRequest, ListAnchorsResponse, ListAuditEntriesRequest,
    ListAuditEntriesResponse, VerifyChainRequest,
};

use super::KnownAnchor;
use crate::auth::Scope;
use crate::db::Db;
use crate::error::{Error, Violations};

pub struct AuditApi {
    db: Db,
}

impl AuditApi {
    pub fn server(db: Db) -> AuditServiceServer<AuditApi> {
        AuditServiceServer::new(AuditApi { db })
    }
}

/// The trail spans every department's and committee's work: a caller bound to one (should a
/// policy file let it call here) is refused rather than shown the others'.
fn whole_trail<T>(request: &Request<T>) -> Result<(), Status> {
    match Scope::of(request) {
        Scope::Everything => Ok(()),
        _ => Err(Error::denied("the audit trail is for callers who may see every object").into()),
    }
}

fn internal(e: impl Into<anyhow::Error>) -> Status {
    Error::Internal(e.into()).into()
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn verify_chain(
        &self,
        request: Request<VerifyChainRequest>,
    ) -> Result<Response<ChainReport>, Status> {
        whole_trail(&request)?;
        let r = request.into_inner();
        let anchor = (r.anchored_position > 0).then_some(KnownAnchor {
            position: r.anchored_position as i64,
            hash: r.anchored_hash,
        });
        let report = super::verify(&self.db, anchor.as_ref())
            .await
            .map_err(internal)?;
        Ok(Response::new(report))
    }

    async fn list_audit_entries(
        &self,
        request: Request<ListAuditEntriesRequest>,
    ) -> Result<Response<ListAuditEntriesResponse>, Status> {
        whole_trail(&request)?;
        let r = request.into_inner();
        let mut violations = Violations::new();
        let case_id = violations.check(crate::validate::uuid("case_id", &r.case_id));
        let page = violations.check(crate::paging::Page::parse(r.page.as_ref()));
        let (case_id, page) = violations.finish_with(case_id.zip(page))?;
        let (entries, next_page_token) = super::list_for_case(&self.db, &case_id, &page)
            .await
            .map_err(internal)?;
        Ok(Response::new(ListAuditEntriesResponse {
            entries,
            next_page_token,
        }))
    }

    async fn list_anchors(
        &self,
        request: Request<ListAnchorsRequest>,
    ) -> Result<Response<ListAnchorsResponse>, Status> {
        whole_trail(&request)?;
        let service = request.into_inner().service;
        let anchors = super::latest_anchor(&self.db, &service)
            .await
            .map_err(Error::from)?
            .into_iter()
            .collect();
        Ok(Response::new(ListAnchorsResponse { anchors }))
    }
}
