//! Reaching a running installation over gRPC: the clients of the five services (carrying the
//! caller's bearer token and the trace context, over TLS for `https://` addresses), a one-line error when a server is away or refuses, and the bounded poll for
//! what events bring about. What the CLI makes of their answers is in `cli`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::codegen::InterceptedService;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::transport::{Certificate, Channel as GrpcChannel, ClientTlsConfig, Identity};
use yimen_platform::backoff::{Backoff, poll};
use yimen_platform::telemetry::TraceContextInterceptor;
use yimen_proto::v1::analysis_service_client::AnalysisServiceClient;
use yimen_proto::v1::assessment_service_client::AssessmentServiceClient;
use yimen_proto::v1::audit_service_client::AuditServiceClient;
use yimen_proto::v1::dispatch_service_client::DispatchServiceClient;
use yimen_proto::v1::intake_service_client::IntakeServiceClient;
use yimen_proto::v1::mediation_service_client::MediationServiceClient;

use crate::run::Target;

/// A failure to show the operator: one line, no stack.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

pub type Traced = InterceptedService<GrpcChannel, Credentials>;

/// What every call carries: the caller's bearer token (when it has one) and the current trace
/// context.
#[derive(Clone)]
pub struct Credentials {
    authorization: Option<AsciiMetadataValue>,
}

impl Credentials {
    /// Calls that present `token` (None: none, as for the health check).
    pub fn bearer(token: Option<&str>) -> Result<Self, CliError> {
        let authorization = token
            .map(|t| MetadataValue::try_from(format!("Bearer {}", t.trim())))
            .transpose()
            // The token itself is never repeated: it is a secret.
            .map_err(|_| CliError("the token is not a valid header value".into()))?;
        Ok(Self { authorization })
    }
}

impl Interceptor for Credentials {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let mut request = TraceContextInterceptor.call(request)?;
        if let Some(value) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// What a client brings to an `https://` address: the CA it trusts (None: the system's
/// roots), for mTLS its own certificate and key (PEM files), and the name the server's
/// certificate must hold when it is not the address's host (a probe inside a pod dials
/// 127.0.0.1 but the certificate names the Service).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTls {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub server_name: Option<String>,
}

impl ClientTls {
    fn config(&self) -> Result<ClientTlsConfig, CliError> {
        let mut config = match &self.ca_file {
            Some(ca) => ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(read_pem("--ca-file", ca)?)),
            None => ClientTlsConfig::new().with_native_roots(),
        };
        if let Some(name) = &self.server_name {
            config = config.domain_name(name.clone());
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                config = config.identity(Identity::from_pem(
                    read_pem("--cert-file", cert)?,
                    read_pem("--key-file", key)?,
                ));
            }
            (None, None) => {}
            _ => {
                return Err(CliError(
                    "--cert-file and --key-file go together (a client certificate needs its key)"
                        .into(),
                ));
            }
        }
        Ok(config)
    }
}

fn read_pem(flag: &str, path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError(format!("{flag} {}: {e}", path.display())))
}

/// Connects to a service, naming it and the address when it cannot be reached; `https://`
/// addresses over TLS with `tls`.
pub async fn channel(service: &str, url: &str, tls: &ClientTls) -> Result<GrpcChannel, CliError> {
    let mut endpoint = GrpcChannel::from_shared(url.to_string())
        .map_err(|e| CliError(format!("bad {service} address `{url}`: {e}")))?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(30));
    if url.starts_with("https://") {
        endpoint = endpoint.tls_config(tls.config()?).map_err(|e| {
            CliError(format!(
                "cannot use the TLS files for {service}: {}",
                cause_of(&e)
            ))
        })?;
    }
    endpoint.connect().await.map_err(|e| {
        CliError(format!(
            "cannot reach {service} at {url} ({}); is `yimen standalone` or `yimen serve` running?",
            cause_of(&e)
        ))
    })
}

/// What `service`'s health check at `url` answers for `probe` ("" the server itself,
/// "readiness", "database", "broker").
pub async fn health(
    service: &str,
    url: &str,
    tls: &ClientTls,
    probe: &str,
) -> Result<tonic_health::pb::health_check_response::ServingStatus, CliError> {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let channel = channel(service, url, tls).await?;
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: probe.into(),
        })
        .await
        .map_err(status_error)?;
    Ok(answer.into_inner().status())
}

/// The causes, on one line: tonic's own message says only "transport error".
fn cause_of(e: &dyn std::error::Error) -> String {
    let mut causes = Vec::new();
    let mut source = e.source();
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    if causes.is_empty() {
        e.to_string()
    } else {
        causes.join(": ")
    }
}

/// A channel to `target` of `urls` whose calls carry its token and the current trace context.
pub async fn traced(target: Target, urls: &Urls) -> Result<Traced, CliError> {
    Ok(InterceptedService::new(
        channel(target.name(), urls.of(target), &urls.tls).await?,
        Credentials::bearer(urls.token.as_deref())?,
    ))
}

pub async fn intake(urls: &Urls) -> Result<IntakeServiceClient<Traced>, CliError> {
    Ok(IntakeServiceClient::new(
        traced(Target::Intake, urls).await?,
    ))
}

pub async fn dispatch(urls: &Urls) -> Result<DispatchServiceClient<Traced>, CliError> {
    Ok(DispatchServiceClient::new(
        traced(Target::Dispatch, urls).await?,
    ))
}

pub async fn mediation(urls: &Urls) -> Result<MediationServiceClient<Traced>, CliError> {
    Ok(MediationServiceClient::new(
        traced(Target::Mediation, urls).await?,
    ))
}

pub async fn analysis(urls: &Urls) -> Result<AnalysisServiceClient<Traced>, CliError> {
    Ok(AnalysisServiceClient::new(
        traced(Target::Analysis, urls).await?,
    ))
}

pub async fn assessment(urls: &Urls) -> Result<AssessmentServiceClient<Traced>, CliError> {
    Ok(AssessmentServiceClient::new(
        traced(Target::Assessment, urls).await?,
    ))
}

/// The audit trail of `target` (every server answers `AuditService` for its own store).
pub async fn audit(target: Target, urls: &Urls) -> Result<AuditServiceClient<Traced>, CliError> {
    Ok(AuditServiceClient::new(traced(target, urls).await?))
}

/// Asks `probe` every 50 ms until it answers `Some`, for at most `patience`: waiting, bounded,
/// for what events bring about in another service. `what` names it in the error.
pub async fn eventually<T, F, Fut>(what: &str, patience: Duration, probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    poll(
        Backoff::constant(Duration::from_millis(50)),
        patience,
        probe,
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("after {patience:?}, still not: {what}"))
}

/// Where the five services answer, and the bearer token (and for `https://`, the TLS files) the
/// caller presents to them.
#[derive(Clone)]
pub struct Urls {
    pub intake: String,
    pub dispatch: String,
    pub mediation: String,
    pub analysis: String,
    pub assessment: String,
    pub token: Option<String>,
    pub tls: ClientTls,
}

// By hand, so the token never reaches a log line.
impl std::fmt::Debug for Urls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Urls")
            .field("intake", &self.intake)
            .field("dispatch", &self.dispatch)
            .field("mediation", &self.mediation)
            .field("analysis", &self.analysis)
            .field("assessment", &self.assessment)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .finish()
    }
}

impl Urls {
    /// Each service on this machine at its default port.
    pub fn local() -> Self {
        Self::from_fn(Target::local_url)
    }

    /// `url(target)` for each service.
    pub fn from_fn(url: impl Fn(Target) -> String) -> Self {
        Self {
            intake: url(Target::Intake),
            dispatch: url(Target::Dispatch),
            mediation: url(Target::Mediation),
            analysis: url(Target::Analysis),
            assessment: url(Target::Assessment),
            token: None,
            tls: ClientTls::default(),
        }
    }

    /// The same addresses, calls presenting `token`.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The same addresses, `https://` ones reached with `tls`.
    pub fn with_tls(mut self, tls: ClientTls) -> Self {
        self.tls = tls;
        self
    }

    pub fn of(&self, target: Target) -> &str {
        match target {
            Target::Intake => &self.intake,
            Target::Dispatch => &self.dispatch,
            Target::Mediation => &self.mediation,
            Target::Analysis => &self.analysis,
            Target::Assessment => &self.assessment,
        }
    }
}

/// The clients of a whole installation.
#[derive(Clone)]
pub struct Clients {
    pub intake: IntakeServiceClient<Traced>,
    pub dispatch: DispatchServiceClient<Traced>,
    pub mediation: MediationServiceClient<Traced>,
    pub analysis: AnalysisServiceClient<Traced>,
    pub assessment: AssessmentServiceClient<Traced>,
    /// Where they were connected.
    pub urls: Urls,
}

impl Clients {
    pub async fn connect(urls: &Urls) -> Result<Self, CliError> {
        Ok(Self {
            intake: intake(urls).await?,
            dispatch: dispatch(urls).await?,
            mediation: mediation(urls).await?,
            analysis: analysis(urls).await?,
            assessment: assessment(urls).await?,
            urls: urls.clone(),
        })
    }
}

/// A gRPC status as one line, with every field violation named.
pub fn status_error(status: tonic::Status) -> CliError {
    use tonic_types::StatusExt;
    let mut line = format!("{:?}: {}", status.code(), status.message());
    if let Some(bad) = status.get_details_bad_request() {
        let fields: Vec<String> = bad
            .field_violations
            .iter()
            .map(|v| format!("{} ({})", v.field, v.description))
            .collect();
        if !fields.is_empty() {
            line = format!("{:?}: invalid {}", status.code(), fields.join(", "));
        }
    }
    CliError(line)
}
