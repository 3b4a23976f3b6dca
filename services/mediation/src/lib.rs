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

use sqlx::migrate::Migrator;
use yimen_platform::bus::QueueSpec;
use yimen_platform::consumer::EventHandler;
use yimen_platform::db::{Db, Migrations};
use yimen_proto::v1::mediation_service_server::MediationServiceServer;

pub const SERVICE: &str = "mediation";

static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");

pub const MIGRATIONS: Migrations = Migrations {
    postgres: &POSTGRES,
    sqlite: &SQLITE,
};

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediationConfig {
    /// Where the gRPC server listens.
    pub listen: String,
}

impl Default for MediationConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:50053".into(),
        }
    }
}

/// The routing keys mediation consumes: referrals, and registrations for the case numbers.
pub const CONSUMED: &[&str] = &[
    yimen_proto::event_type::CASE_REGISTERED,
    yimen_proto::event_type::CASE_REFERRED_ANY,
];

/// Mediation's queue.
pub fn queue() -> QueueSpec {
    QueueSpec::new("yimen.mediation", CONSUMED)
}

/// The MediationService routes.
pub fn routes(db: Db, config: &MediationConfig) -> tonic::service::Routes {
    tonic::service::Routes::new(MediationServiceServer::new(api::Api::new(db, config)))
}

/// The handler of mediation's queue: referrals open files, registrations tell case numbers.
pub fn handler(db: Db, config: &MediationConfig) -> Arc<dyn EventHandler> {
    Arc::new(consumers::Handler::new(db, config))
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
        let queue = queue();
        assert_eq!(queue.name, "yimen.mediation");
        assert_eq!(queue.bindings, ["case.registered", "case.referred.*"]);
    }
}
