//! Who is acting, for the audit trail: the server layer ([`AuditLayer`]) runs each
//! state-changing call inside a task-local call context; the auth layer names the caller in
//! it, `outbox::enqueue` notes the events the call writes, a service may note other objects,
//! and [`Db::commit`](crate::db::Db::commit) turns it into the entry of the transaction it
//! commits. A call that commits nothing is recorded by the layer with its outcome.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tonic::Code;
use tower::{Layer, Service};
use yimen_proto::v1::Event;

use super::{CALL, NewEntry};
use crate::auth::Principal;
use crate::db::{Db, Tx};

/// Whether a method changes state, so is audited: every yimen method but the reads, which
/// are named `Get…`, `List…`, `Watch…` or `Verify…` (health and reflection are not yimen's).
pub fn is_state_changing(method: &str) -> bool {
    let Some(rest) = method.strip_prefix("/yimen.") else {
        return false;
    };
    let name = rest.rsplit('/').next().unwrap_or("");
    !["Get", "List", "Watch", "Verify"]
        .iter()
        .any(|read| name.starts_with(read))
}

tokio::task_local! {
    static ACTING: Arc<Call>;
}

/// One state-changing call in progress.
#[derive(Debug)]
struct Call {
    method: String,
    principal: Mutex<Option<Principal>>,
    noted: Mutex<Noted>,
    recorded: AtomicBool,
}

#[derive(Debug, Default)]
struct Noted {
    cases: BTreeSet<String>,
    objects: Vec<String>,
}

impl Call {
    /// The entry of this call with `outcome`, taking what was noted so far (so a second
    /// transaction of the same call records only its own objects).
    fn entry(&self, outcome: &str) -> NewEntry {
        let principal = self.principal.lock().map(|p| p.clone()).unwrap_or(None);
        let noted = self
            .noted
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default();
        let (subject, role, binding) = match principal {
            Some(p) => (
                p.subject,
                p.role.as_str().to_string(),
                p.department.or(p.committee).unwrap_or_default(),
            ),
            None => Default::default(),
        };
        NewEntry {
            kind: CALL,
            action: self.method.clone(),
            subject,
            role,
            binding,
            outcome: outcome.into(),
            case_ids: noted.cases.into_iter().collect(),
            objects: noted.objects,
        }
    }
}

fn with_call(f: impl FnOnce(&Call)) {
    let _ = ACTING.try_with(|call| f(call));
}

/// Names the caller of the call in progress (the auth layer, once the token is verified).
pub fn identify(principal: &Principal) {
    with_call(|call| {
        if let Ok(mut p) = call.principal.lock() {
            *p = Some(principal.clone());
        }
    });
}

/// Notes that the call in progress acts on `case_id` (events note theirs on their own).
pub fn note_case(case_id: &str) {
    if case_id.is_empty() {
        return;
    }
    with_call(|call| {
        if let Ok(mut n) = call.noted.lock() {
            n.cases.insert(case_id.to_string());
        }
    });
}

/// Notes another object the call acts on, as `kind:id` (`assignment:…`, `department:…`).
pub fn note_object(kind: &str, id: &str) {
    with_call(|call| {
        if let Ok(mut n) = call.noted.lock() {
            let object = format!("{kind}:{id}");
            if !n.objects.contains(&object) {
                n.objects.push(object);
            }
        }
    });
}

/// Notes an event the call in progress writes: its case and its routing key.
pub(crate) fn note_event(event: &Event) {
    note_case(&event.case_id);
    with_call(|call| {
        if let Ok(mut n) = call.noted.lock() {
            n.objects.push(event.r#type.clone());
        }
    });
}

/// Writes the entry of the call in progress into `tx`, which is about to commit; nothing
/// outside a state-changing call.
pub(crate) async fn record_commit(tx: &mut Tx) -> Result<(), sqlx::Error> {
    let Ok(call) = ACTING.try_with(Arc::clone) else {
        return Ok(());
    };
    call.entry("OK").insert(&mut **tx).await?;
    call.recorded.store(true, Ordering::SeqCst);
    Ok(())
}

/// The gRPC name of a code: `PERMISSION_DENIED`.
fn code_name(code: Code) -> String {
    let camel = format!("{code:?}");
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Runs each state-changing call of the server in a call context and records the calls that
/// committed nothing, with their outcome, in `db` (the store of the service the server runs).
/// Without a store, calls pass unrecorded (the platform's own server tests).
#[derive(Clone, Default)]
pub struct AuditLayer {
    db: Option<Db>,
}

impl AuditLayer {
    pub fn new(db: Option<Db>) -> Self {
        Self { db }
    }
}

impl<S> Layer<S> for AuditLayer {
    type Service = AuditService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuditService {
            inner,
            db: self.db.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuditService<S> {
    inner: S,
    db: Option<Db>,
}

impl<S, B, ResBody> Service<http::Request<B>> for AuditService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let method = request.uri().path().to_string();
        let db = self.db.clone().filter(|_| is_state_changing(&method));
        Box::pin(async move {
            let Some(db) = db else {
                return inner.call(request).await;
            };
            let call = Arc::new(Call {
                method,
                principal: Mutex::new(None),
                noted: Mutex::new(Noted::default()),
                recorded: AtomicBool::new(false),
            });
            let response = ACTING.scope(call.clone(), inner.call(request)).await?;
            if !call.recorded.load(Ordering::SeqCst) {
                // A failed call answers its status in the headers (trailers-only); a call that
                // succeeded without a transaction (a repeated request id) answers OK.
                let code = tonic::Status::from_header_map(response.headers())
                    .map_or(Code::Ok, |s| s.code());
                // Callers with no verified token, and calls over the rate limit, are not
                // recorded: either would let anyone grow the trail at will. The log has them.
                if !matches!(code, Code::Unauthenticated | Code::ResourceExhausted)
                    && let Err(e) = call.entry(&code_name(code)).insert(db.pool()).await
                {
                    tracing::warn!(error = %e, method = %call.method, "audit entry not written");
                }
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_are_grpc_names() {
        assert_eq!(code_name(Code::PermissionDenied), "PERMISSION_DENIED");
        assert_eq!(code_name(Code::Ok), "OK");
        assert_eq!(code_name(Code::NotFound), "NOT_FOUND");
    }

    #[test]
    fn reads_health_and_reflection_are_not_audited() {
        assert!(is_state_changing(
            "/yimen.v1.DispatchService/AcceptAssignment"
        ));
        assert!(!is_state_changing("/yimen.v1.IntakeService/GetCaseStatus"));
        assert!(!is_state_changing("/yimen.v1.IntakeService/WatchCase"));
        assert!(!is_state_changing("/yimen.v1.AuditService/VerifyChain"));
        assert!(!is_state_changing("/grpc.health.v1.Health/Check"));
        assert!(!is_state_changing(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        ));
    }
}
