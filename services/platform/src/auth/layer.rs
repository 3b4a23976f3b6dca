//! The tower layer that puts [`Auth`] in front of every route of the server: health passes
//! untouched, every other call is authorized before it reaches its service, which then finds
//! the [`Principal`] in the request's extensions.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::{Auth, Principal};

/// Wraps a service in [`AuthService`]; with no [`Auth`], calls pass unchecked.
#[derive(Clone, Default)]
pub struct AuthLayer {
    auth: Option<Arc<Auth>>,
}

impl AuthLayer {
    pub fn new(auth: Option<Arc<Auth>>) -> Self {
        Self { auth }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: self.auth.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Option<Arc<Auth>>,
}

impl<S, B, ResBody> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The service that was polled ready serves this call; its clone takes the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        // Checked inside the future: the server enters the call's span only while polling it,
        // and the role and subject belong on that span.
        Box::pin(async move {
            if let Some(auth) = auth {
                let path = request.uri().path();
                if !Auth::is_public(path) {
                    let header = request
                        .headers()
                        .get(http::header::AUTHORIZATION)
                        .map(|v| v.to_str().unwrap_or(""));
                    match auth.authorize(path, header) {
                        Ok(principal) => {
                            record(&principal);
                            request.extensions_mut().insert(principal);
                        }
                        Err(status) => {
                            tracing::info!(code = ?status.code(), why = status.message(), "call refused");
                            return Ok(status.into_http());
                        }
                    }
                }
            }
            inner.call(request).await
        })
    }
}

/// Names the caller on the call's span (never the token).
fn record(principal: &Principal) {
    let span = tracing::Span::current();
    span.record("enduser.role", principal.role.as_str());
    span.record("enduser.id", principal.subject.as_str());
}
