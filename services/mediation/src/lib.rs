//! Mediation, the diversified dispute-resolution center (矛盾纠纷多元化解中心): eight
//! professional committees take disputes by category; a file opens from a department's referral
//! or directly for court-entrusted, administrative and petition linkages, and concludes with an
//! agreement (which replies the case), a failure or a withdrawal.
//!
//! Layout: `domain` (pure rules), `store` (SQL), `app` (the use cases, one transaction per
//! operation), `api` (gRPC, thin), `consumers` (events).

pub mod api;
pub mod app;
pub mod consumers;
pub mod domain;
pub mod store;

use std::sync::Arc;

use yimen_platform::consumer::EventHandler;
use yimen_platform::db::Migrations;
use yimen_platform::seal::SealedTable;
use yimen_platform::service::{Context, Definition, Service, listen_on};
use yimen_proto::v1::mediation_service_server::MediationServiceServer;

pub const SERVICE: &str = "mediation";

pub const MIGRATIONS: Migrations = yimen_platform::migrations!();

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediationConfig {
    /// Where the gRPC server listens.
    pub listen: String,
}

impl Default for MediationConfig {
    fn default() -> Self {
        Self {
            listen: listen_on(Mediation::DEFAULT_PORT),
        }
    }
}

/// The routing keys mediation consumes: referrals, and registrations for the case numbers.
pub const CONSUMED: &[&str] = &[
    yimen_proto::event_type::CASE_REGISTERED,
    yimen_proto::event_type::CASE_REFERRED_ANY,
    yimen_proto::event_type::CASE_WITHDRAWN,
];

/// The eight committees' mediation, as a process runs it.
pub struct Mediation {
    config: MediationConfig,
}

impl Definition for Mediation {
    const NAME: &'static str = SERVICE;
    const DEFAULT_PORT: u16 = 50053;
    const MIGRATIONS: Migrations = MIGRATIONS;
    const CONSUMED: &'static [&'static str] = CONSUMED;
    const SEALED: &'static [SealedTable] = store::SEALED;
    type Config = MediationConfig;

    fn new(config: MediationConfig) -> Self {
        Self { config }
    }
}

#[async_trait::async_trait]
impl Service for Mediation {
    fn routes(&self, context: &Context) -> tonic::service::Routes {
        tonic::service::Routes::new(MediationServiceServer::new(api::Api::new(
            context.db.clone(),
            &self.config,
            context.keyring.clone(),
        )))
    }

    fn handler(&self, context: &Context) -> Arc<dyn EventHandler> {
        Arc::new(consumers::Handler::new(
            context.db.clone(),
            &self.config,
            context.keyring.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mediation_listens_on_its_own_port() {
        assert_eq!(MediationConfig::default().listen, "0.0.0.0:50053");
    }

    #[test]
    fn mediation_queue_takes_every_referral_and_registration() {
        let queue = Mediation::queue();
        assert_eq!(queue.name, "yimen.mediation");
        assert_eq!(
            queue.bindings,
            ["case.registered", "case.referred.*", "case.withdrawn"]
        );
    }
}
