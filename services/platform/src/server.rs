//! The one gRPC server setup: the service's routes, `grpc.health.v1` (with a `readiness`
//! service name that is SERVING while the server can do its job — its database answers — and
//! NOT_SERVING from the moment shutdown starts, and the detail behind it as `database` and
//! `broker`), server reflection, a trace span per call, authentication and the role policy on
//! every call but health, the audit trail of every state-changing call (and
//! `yimen.v1.AuditService`), the duration of every call (`rpc.server.call.duration`), TLS (and client certificates) when configured, and graceful
//! shutdown bounded by a grace period.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use tonic_health::ServingStatus;

use crate::audit::AuditLayer;
use crate::auth::{Auth, AuthLayer};
use crate::bus::Bus;
use crate::db::Db;

/// The health service name probes ask for (`grpc_health_probe -service readiness`): SERVING
/// while the server can do its job, that is while its database answers. A broker outage alone
/// leaves it SERVING: what a call changes waits in the outbox and what others publish waits in
/// the queues, both moving again when the broker is back, so a front door is not taken out of
/// service for it.
pub const READINESS: &str = "readiness";
/// Health detail: SERVING while the server's database (every store it carries) answers.
pub const DATABASE: &str = "database";
/// Health detail: SERVING while the broker answers (always, on the in-process bus).
pub const BROKER: &str = "broker";

/// What the server checks, every [`ServeOptions::readiness_interval`].
#[derive(Clone)]
pub struct Readiness {
    pub stores: Vec<Db>,
    pub bus: Arc<dyn Bus>,
}

/// One look at what the server depends on: each part Ok, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub database: Result<(), String>,
    pub broker: Result<(), String>,
}

impl Health {
    /// The status of each health service name: `readiness` follows the database alone.
    pub fn statuses(&self) -> [(&'static str, bool); 3] {
        [
            (READINESS, self.database.is_ok()),
            (DATABASE, self.database.is_ok()),
            (BROKER, self.broker.is_ok()),
        ]
    }
}

impl Readiness {
    /// Asks every store and the broker, at once.
    pub async fn probe(&self) -> Health {
        let database = async {
            for db in &self.stores {
                db.ping()
                    .await
                    .map_err(|e| format!("{} database: {e}", db.service()))?;
            }
            Ok(())
        };
        let broker = async { self.bus.ping().await.map_err(|e| format!("broker: {e}")) };
        let (database, broker) = tokio::join!(database, broker);
        Health { database, broker }
    }

    /// Ok when the server is ready (every store answers); otherwise what did not.
    pub async fn check(&self) -> Result<(), String> {
        self.probe().await.database
    }
}

#[derive(Clone)]
pub struct ServeOptions {
    /// For logs: which services this server carries.
    pub name: String,
    /// How long in-flight calls may run on after shutdown starts.
    pub grace: Duration,
    /// How often readiness is checked.
    pub readiness_interval: Duration,
    /// Who may call what. None checks nothing, which only the platform's own tests want.
    pub auth: Option<Arc<Auth>>,
    /// TLS, from [`TlsConfig::load`]; None serves plaintext.
    pub tls: Option<ServerTlsConfig>,
    /// The store whose audit trail records this server's state-changing calls and which
    /// `yimen.v1.AuditService` answers from. None records nothing (the platform's own tests).
    pub audit: Option<Db>,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("name", &self.name)
            .field("grace", &self.grace)
            .field("readiness_interval", &self.readiness_interval)
            .field("auth", &self.auth.as_ref().map(|a| a.policy().name()))
            .field("tls", &self.tls.is_some())
            .field("audit", &self.audit.as_ref().map(Db::service))
            .finish()
    }
}

impl ServeOptions {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            grace: Duration::from_secs(10),
            readiness_interval: Duration::from_secs(2),
            auth: None,
            tls: None,
            audit: None,
        }
    }
}

/// `[server.tls]`: with `cert_file` and `key_file` (PEM) every service serves TLS; with
/// `client_ca_file` too, a caller must present a certificate that CA signed (mTLS). Unset:
/// plaintext.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub client_ca_file: Option<PathBuf>,
}

impl TlsConfig {
    /// The server's TLS, None when no certificate is set. A missing or unreadable file, or one
    /// rustls cannot use, fails here, at start, naming the setting and the file.
    pub fn load(&self) -> anyhow::Result<Option<ServerTlsConfig>> {
        let (cert, key) = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => (cert, key),
            (None, None) if self.client_ca_file.is_none() => return Ok(None),
            (None, None) => anyhow::bail!(
                "server.tls.client_ca_file is set but server.tls.cert_file and key_file are not"
            ),
            (Some(_), None) => {
                anyhow::bail!("server.tls.cert_file is set but server.tls.key_file is not")
            }
            (None, Some(_)) => {
                anyhow::bail!("server.tls.key_file is set but server.tls.cert_file is not")
            }
        };
        let identity = Identity::from_pem(
            read_pem("server.tls.cert_file", cert)?,
            read_pem("server.tls.key_file", key)?,
        );
        let mut tls = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &self.client_ca_file {
            tls = tls.client_ca_root(Certificate::from_pem(read_pem(
                "server.tls.client_ca_file",
                ca,
            )?));
        }
        // Two rustls providers may be linked in (ring and aws-lc); the server then needs one
        // chosen. Already chosen (a second server in the process) is fine.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        // Building the acceptor parses the PEM: a bad file fails now, not at the first call.
        tonic::transport::Server::builder()
            .tls_config(tls.clone())
            .map_err(|e| {
                let mut files = format!(
                    "server.tls.cert_file {} and key_file {}",
                    cert.display(),
                    key.display()
                );
                if let Some(ca) = &self.client_ca_file {
                    files.push_str(&format!(" and client_ca_file {}", ca.display()));
                }
                anyhow::anyhow!("cannot use {files}: {}", error_chain(&e))
            })?;
        Ok(Some(tls))
    }
}

pub(crate) fn read_pem(setting: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    let pem = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("{setting} {}: cannot read: {e}", path.display()))?;
    if pem.is_empty() {
        anyhow::bail!("{setting} {}: the file is empty", path.display());
    }
    Ok(pem)
}

/// An error and its causes on one line (tonic's own Display says only "transport error").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        line.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    line
}

/// The most a request may weigh: tonic's limit, 4 MiB (every text field's own limit is far
/// below it).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// A request over [`MAX_REQUEST_BYTES`] is the caller's error: INVALID_ARGUMENT saying the
/// limit, not the transport's bare OUT_OF_RANGE. The decoder refuses it before any handler
/// runs, so the status is in the response's headers.
fn too_large_is_invalid<B>(mut response: http::Response<B>) -> http::Response<B> {
    let Some(status) = tonic::Status::from_header_map(response.headers()) else {
        return response;
    };
    if status.code() == tonic::Code::OutOfRange
        && status.message().contains("message length too large")
    {
        let invalid = tonic::Status::invalid_argument(format!(
            "the request is larger than the limit of {MAX_REQUEST_BYTES} bytes"
        ));
        let _ = invalid.add_header(response.headers_mut());
    }
    response
}

/// Serves `routes` on `listener` until `shutdown`, then drains in-flight calls within the
/// grace period.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    readiness: Readiness,
    options: ServeOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in [READINESS, DATABASE, BROKER] {
        reporter
            .set_service_status(name, ServingStatus::NotServing)
            .await;
    }
    // Both versions, as grpc-go and grpc-java serve them: several tools (Python's
    // grpcio-reflection among them) speak only v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(yimen_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let reflection = reflection().build_v1()?;

    let watcher = {
        let reporter = reporter.clone();
        let shutdown = shutdown.clone();
        let interval = options.readiness_interval;
        let name = options.name.clone();
        tokio::spawn(async move {
            let mut last: Option<Health> = None;
            loop {
                let health = readiness.probe().await;
                if shutdown.is_cancelled() {
                    break;
                }
                log_changes(&name, last.as_ref(), &health);
                crate::telemetry::metrics::record_bus_connected(&name, health.broker.is_ok());
                for (service, up) in health.statuses() {
                    let status = if up {
                        ServingStatus::Serving
                    } else {
                        ServingStatus::NotServing
                    };
                    reporter.set_service_status(service, status).await;
                }
                last = Some(health);
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
            reporter
                .set_service_status(READINESS, ServingStatus::NotServing)
                .await;
        })
    };

    tracing::info!(server = %options.name, %addr, "serving gRPC");
    let signal = {
        let shutdown = shutdown.clone();
        async move { shutdown.cancelled().await }
    };
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = options.tls.clone() {
        builder = builder.tls_config(tls)?;
    }
    let mut routes = routes;
    if let Some(db) = &options.audit {
        routes = routes.add_service(crate::audit::api::AuditApi::server(db.clone()));
    }
    // The audit layer is outside the auth layer, so a call the policy refuses is recorded too.
    let server = builder
        .trace_fn(crate::telemetry::grpc_server_span)
        // Outermost: every call is measured, those the policy refuses too.
        .layer(crate::telemetry::metrics::RpcMetricsLayer)
        .layer(tower::util::MapResponseLayer::new(
            crate::telemetry::record_grpc_status,
        ))
        .layer(AuditLayer::new(options.audit.clone()))
        .layer(AuthLayer::new(options.auth.clone()))
        .layer(tower::util::MapResponseLayer::new(too_large_is_invalid))
        .add_routes(routes)
        .add_service(health)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), signal);
    tokio::pin!(server);
    let result = tokio::select! {
        r = &mut server => r.map_err(anyhow::Error::from),
        _ = shutdown.cancelled() => {
            // Shutdown started: readiness turns NOT_SERVING now; in-flight calls get the grace.
            reporter.set_service_status(READINESS, ServingStatus::NotServing).await;
            match tokio::time::timeout(options.grace, &mut server).await {
                Ok(r) => r.map_err(anyhow::Error::from),
                Err(_) => {
                    tracing::warn!(server = %options.name, "grace period over; dropping calls still in flight");
                    Ok(())
                }
            }
        }
    };
    watcher.abort();
    tracing::info!(server = %options.name, "stopped");
    result
}

/// Logs what changed since the last look (everything, at the first): readiness, and each part
/// that went away or came back.
fn log_changes(server: &str, last: Option<&Health>, now: &Health) {
    let parts = [("database", &now.database), ("broker", &now.broker)];
    let before = last.map(|h| [h.database.is_ok(), h.broker.is_ok()]);
    for (i, (part, result)) in parts.into_iter().enumerate() {
        match (result, before.map(|b| b[i])) {
            (Err(why), None | Some(true)) => {
                tracing::warn!(server = %server, part, why = %why, "{part} unavailable")
            }
            (Ok(()), Some(false)) => tracing::info!(server = %server, part, "{part} back"),
            _ => {}
        }
    }
    let ready = now.database.is_ok();
    if last.map(|h| h.database.is_ok()) != Some(ready) {
        if ready {
            tracing::info!(server = %server, "ready");
        } else {
            tracing::warn!(server = %server, "not ready");
        }
    }
}

/// Binds a listener, with the address in the error.
pub async fn bind(addr: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

/// Cancels `token` on SIGTERM or ctrl-c.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for SIGTERM");
                        let _ = ctrl_c.await;
                        token.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown requested");
        token.cancel();
    });
}
