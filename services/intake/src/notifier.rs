//! The notifier port: how a notice (告知书) reaches the petitioner. Personal data (the phones)
//! exists only here and in the sender that hands it over; nothing a notifier logs or answers
//! names a petitioner.
//!
//! Two adapters: [`LogNotifier`] (the default) logs that a notice of a kind was sent for a case,
//! and [`SmsGateway`] posts each notice to an SMS gateway at a configured `http://` URL
//! (`intake.sms_gateway_url`) as JSON: `{"to": [phones], "template": kind, "reference": case
//! number, "text": text}`; any 2xx answer is delivery.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use crate::domain::notice::NoticeKind;

/// One notice on its way: what it says, about which case, and to whom.
pub struct Outgoing<'a> {
    pub kind: NoticeKind,
    pub case_id: &'a str,
    pub case_number: &'a str,
    pub text: &'a str,
    /// The petitioners' phones, personal data: never logged.
    pub phones: &'a [String],
}

// By hand, so the phones never reach a log line.
impl std::fmt::Debug for Outgoing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("kind", &self.kind)
            .field("case_id", &self.case_id)
            .field("phones", &format_args!("<{} redacted>", self.phones.len()))
            .finish()
    }
}

/// Delivers notices. An error is retried later; its message must name no petitioner.
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn send(&self, notice: &Outgoing<'_>) -> anyhow::Result<()>;
}

/// The notifier `sms_gateway_url` names: the SMS gateway at that URL, or the log when empty.
pub fn from_setting(sms_gateway_url: &str) -> anyhow::Result<std::sync::Arc<dyn Notifier>> {
    Ok(match sms_gateway_url.trim() {
        "" => std::sync::Arc::new(LogNotifier),
        url => std::sync::Arc::new(SmsGateway::new(url)?),
    })
}

/// Logs that a notice was sent: its kind and case, never its text's recipients.
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    async fn send(&self, notice: &Outgoing<'_>) -> anyhow::Result<()> {
        tracing::info!(
            case_id = %notice.case_id,
            notice = notice.kind.as_str(),
            recipients = notice.phones.len(),
            "notice sent (log notifier)"
        );
        Ok(())
    }
}

/// Posts notices to an SMS gateway over HTTP/1.1.
pub struct SmsGateway {
    uri: http::Uri,
    authority: String,
    timeout: Duration,
}

impl SmsGateway {
    /// The gateway at `url`: `http://host:port/path`.
    pub fn new(url: &str) -> anyhow::Result<Self> {
        // Errors name the URL without the credentials it may carry.
        let shown = yimen_platform::bus::redact_url(url);
        let uri: http::Uri = url
            .parse()
            .map_err(|e| anyhow::anyhow!("intake.sms_gateway_url `{shown}`: {e}"))?;
        anyhow::ensure!(
            uri.scheme_str() == Some("http"),
            "intake.sms_gateway_url `{shown}`: only http:// gateways are supported"
        );
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow::anyhow!("intake.sms_gateway_url `{shown}` names no host"))?
            .to_string();
        Ok(Self {
            uri,
            authority,
            timeout: Duration::from_secs(10),
        })
    }

    async fn post(&self, body: Vec<u8>) -> anyhow::Result<http::StatusCode> {
        let stream = tokio::net::TcpStream::connect(&self.authority).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "SMS gateway connection ended");
            }
        });
        let path = self
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let request = http::Request::post(path)
            .header(http::header::HOST, &self.authority)
            .header(
                http::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .body(Full::new(Bytes::from(body)))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        // Drain the answer so the connection closes cleanly; its content is not needed.
        let _ = response.into_body().collect().await;
        Ok(status)
    }
}

#[async_trait]
impl Notifier for SmsGateway {
    async fn send(&self, notice: &Outgoing<'_>) -> anyhow::Result<()> {
        if notice.phones.is_empty() {
            tracing::info!(case_id = %notice.case_id, notice = notice.kind.as_str(), "no phone on the case; the notice goes by letter");
            return Ok(());
        }
        let body = serde_json::to_vec(&serde_json::json!({
            "to": notice.phones,
            "template": notice.kind.as_str(),
            "reference": notice.case_number,
            "text": notice.text,
        }))?;
        let status = tokio::time::timeout(self.timeout, self.post(body))
            .await
            .map_err(|_| anyhow::anyhow!("the SMS gateway did not answer in time"))?
            // The transport's errors name the gateway, never the message.
            .map_err(|e| anyhow::anyhow!("the SMS gateway could not be reached: {e}"))?;
        anyhow::ensure!(status.is_success(), "the SMS gateway answered {status}");
        tracing::info!(case_id = %notice.case_id, notice = notice.kind.as_str(), recipients = notice.phones.len(), "notice sent by SMS");
        Ok(())
    }
}
