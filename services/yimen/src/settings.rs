//! The typed configuration of the `yimen` binary and the registry of its services: one section
//! per platform part and per service. Loaded by `yimen_platform::config` (defaults → `--config` file → `YIMEN__SECTION__KEY`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use yimen_platform::audit::AuditConfig;
use yimen_platform::auth::AuthConfig;
use yimen_platform::bus::{BusConfig, QueueSpec};
use yimen_platform::db::{DatabaseConfig, Migrations};
use yimen_platform::seal::{SealedTable, SecurityConfig};
use yimen_platform::server::TlsConfig;
use yimen_platform::service::{Definition, Service};
use yimen_platform::telemetry::TelemetryConfig;

/// The registry: every service this binary can run, one line each — its `--target` variant,
/// its settings section and its type (a [`Definition`] of the platform). It makes the
/// [`Settings`] (one section per service), the [`Target`] enum and, through
/// [`Target::service`], the running service. Adding a sixth service is its crate and one line
/// here.
macro_rules! registry {
    ($($variant:ident $section:ident: $service:ty),+ $(,)?) => {
        /// The binary's settings: the platform's parts, then a section per service.
        #[derive(Debug, Clone, Default, Deserialize, Serialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct Settings {
            pub database: DatabaseConfig,
            pub bus: BusConfig,
            pub telemetry: TelemetryConfig,
            pub auth: AuthConfig,
            pub audit: AuditConfig,
            pub security: SecurityConfig,
            pub server: ServerConfig,
            pub standalone: StandaloneConfig,
            $(pub $section: <$service as Definition>::Config,)+
        }

        /// A service the binary can run.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
        pub enum Target {
            $($variant,)+
        }

        impl Target {
            pub const ALL: [Target; [$(Target::$variant),+].len()] = [$(Target::$variant),+];

            /// Its store's schema or file, its logs' `service`, its `--target` value.
            pub fn name(self) -> &'static str {
                match self {
                    $(Target::$variant => <$service as Definition>::NAME,)+
                }
            }

            /// Where it listens unless its settings say otherwise (clients use it too).
            pub fn default_port(self) -> u16 {
                match self {
                    $(Target::$variant => <$service as Definition>::DEFAULT_PORT,)+
                }
            }

            /// The schema of its store.
            pub fn migrations(self) -> Migrations {
                match self {
                    $(Target::$variant => <$service as Definition>::MIGRATIONS,)+
                }
            }

            /// The columns of its store that hold sealed personal data.
            pub fn sealed(self) -> &'static [SealedTable] {
                match self {
                    $(Target::$variant => <$service as Definition>::SEALED,)+
                }
            }

            /// The durable queue it consumes.
            pub fn queue(self) -> QueueSpec {
                match self {
                    $(Target::$variant => <$service as Definition>::queue(),)+
                }
            }

            /// Its address on this machine at its default port, for clients.
            pub fn local_url(self) -> String {
                format!("http://127.0.0.1:{}", self.default_port())
            }

            /// Where its settings say it listens.
            pub fn listen(self, settings: &Settings) -> &str {
                match self {
                    $(Target::$variant => &settings.$section.listen,)+
                }
            }

            fn listen_mut(self, settings: &mut Settings) -> &mut String {
                match self {
                    $(Target::$variant => &mut settings.$section.listen,)+
                }
            }

            /// The service, configured from its section of `settings`.
            pub fn service(self, settings: &Settings) -> Box<dyn Service> {
                match self {
                    $(Target::$variant => Box::new(<$service>::new(settings.$section.clone())),)+
                }
            }
        }
    };
}

registry! {
    Intake     intake:     yimen_intake::Intake,
    Dispatch   dispatch:   yimen_dispatch::Dispatch,
    Mediation  mediation:  yimen_mediation::Mediation,
    Analysis   analysis:   yimen_analysis::Analysis,
    Assessment assessment: yimen_assessment::Assessment,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// How long in-flight calls, deliveries and the outbox may run on after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// `[server.tls]`: TLS for every service, and mTLS with a client CA.
    pub tls: TlsConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            shutdown_grace_secs: 10,
            tls: TlsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StandaloneConfig {
    /// Where standalone keeps its SQLite files (one per service).
    pub data_dir: PathBuf,
    /// Departments joined on start when not registered yet: `builtin` (the list built into
    /// the binary, deploy/departments.toml as it was built), a departments file's path, or ""
    /// for none.
    pub seed_departments: String,
}

impl Default for StandaloneConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            seed_departments: yimen_dispatch::seed::BUILTIN_NAME.into(),
        }
    }
}

impl Settings {
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Self> {
        yimen_platform::config::load(file)
    }

    /// Every service on a free port of 127.0.0.1 (tests and the bench: loopback only).
    pub fn on_free_loopback_ports(mut self) -> Self {
        for target in Target::ALL {
            *target.listen_mut(&mut self) = "127.0.0.1:0".into();
        }
        self
    }

    /// Standalone: embedded storage and the in-process bus, whatever the file said of them.
    pub fn into_standalone(mut self) -> Self {
        self.database.url = format!("sqlite://{}", self.standalone.data_dir.display());
        // The in-process bus, journaled beside the stores so queued events survive a restart.
        self.bus.url = format!(
            "file://{}",
            self.standalone.data_dir.join("bus.journal").display()
        );
        // Nobody outside the process could read department queues on the in-process bus.
        self.dispatch.department_queues = false;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_work_without_file_or_environment() {
        let s: Settings = yimen_platform::config::load_from(None, env(&[])).unwrap();
        assert_eq!(s.intake.listen, "0.0.0.0:50051");
        assert_eq!(s.dispatch.listen, "0.0.0.0:50052");
        assert_eq!(s.mediation.listen, "0.0.0.0:50053");
        assert_eq!(s.analysis.listen, "0.0.0.0:50054");
        assert_eq!(s.assessment.listen, "0.0.0.0:50055");
        assert_eq!(s.dispatch.accept_days, 15);
        assert_eq!(s.dispatch.handle_days, 60);
        assert_eq!(s.bus.url, "memory");
        assert_eq!(s.security.data_key_file, None);
        assert_eq!(
            s.security.algorithm,
            yimen_platform::seal::Algorithm::Aes256Gcm
        );
    }

    #[test]
    fn security_section_takes_the_key_file_and_sm4() {
        let s: Settings = yimen_platform::config::load_from(
            None,
            env(&[
                (
                    "YIMEN__SECURITY__DATA_KEY_FILE",
                    "/etc/yimen/keys/data.json",
                ),
                ("YIMEN__SECURITY__ALGORITHM", "sm4-gcm"),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.security.data_key_file.as_deref(),
            Some(std::path::Path::new("/etc/yimen/keys/data.json"))
        );
        assert_eq!(
            s.security.algorithm,
            yimen_platform::seal::Algorithm::Sm4Gcm
        );
        let err = yimen_platform::config::load_from::<Settings>(
            None,
            env(&[("YIMEN__SECURITY__ALGORITHM", "des")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("algorithm"), "{err}");
    }

    #[test]
    fn environment_overrides_a_nested_key() {
        let s: Settings = yimen_platform::config::load_from(
            None,
            env(&[
                ("YIMEN__DISPATCH__ACCEPT_DAYS", "10"),
                ("YIMEN__BUS__PREFIX", "staging."),
                ("YIMEN__DATABASE__URL", "postgres://u@h/db"),
            ]),
        )
        .unwrap();
        assert_eq!(s.dispatch.accept_days, 10);
        assert_eq!(s.bus.prefix, "staging.");
        assert_eq!(s.database.url, "postgres://u@h/db");
    }

    #[test]
    fn file_layer_sits_between_defaults_and_environment() {
        let dir = yimen_testkit::stores::temp_dir("yimen-cfg-");
        let file = dir.path().join("yimen.toml");
        std::fs::write(&file, "[dispatch]\naccept_days = 7\nhandle_days = 30\n").unwrap();
        let s: Settings = yimen_platform::config::load_from(
            Some(&file),
            env(&[("YIMEN__DISPATCH__HANDLE_DAYS", "45")]),
        )
        .unwrap();
        assert_eq!(s.dispatch.accept_days, 7);
        assert_eq!(s.dispatch.handle_days, 45);
    }

    #[test]
    fn bad_value_fails_naming_the_key() {
        let err = yimen_platform::config::load_from::<Settings>(
            None,
            env(&[("YIMEN__DISPATCH__ACCEPT_DAYS", "soon")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("accept_days"), "{err}");
    }

    #[test]
    fn unknown_key_in_file_is_rejected() {
        let dir = yimen_testkit::stores::temp_dir("yimen-cfg-");
        let file = dir.path().join("yimen.toml");
        std::fs::write(&file, "[dispatch]\naccept_dayz = 7\n").unwrap();
        let err = yimen_platform::config::load_from::<Settings>(Some(&file), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("accept_dayz"), "{err}");
    }

    #[test]
    fn holidays_default_to_the_built_in_calendar_and_a_missing_file_stops_the_start() {
        let s: Settings = yimen_platform::config::load_from(None, env(&[])).unwrap();
        assert_eq!(String::from(s.dispatch.holidays), "builtin");
        let none: Settings =
            yimen_platform::config::load_from(None, env(&[("YIMEN__DISPATCH__HOLIDAYS", "")]))
                .unwrap();
        assert_eq!(
            none.dispatch.holidays,
            yimen_platform::calendar::Holidays::none()
        );
        let err = yimen_platform::config::load_from::<Settings>(
            None,
            env(&[("YIMEN__DISPATCH__HOLIDAYS", "/nonexistent/holidays.toml")]),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("holidays"), "{err:#}");
    }

    #[test]
    fn an_sms_gateway_url_that_is_not_http_stops_the_start() {
        let err = yimen_platform::config::load_from::<Settings>(
            None,
            env(&[("YIMEN__INTAKE__SMS_GATEWAY_URL", "ftp://sms.example")]),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("sms_gateway_url"), "{err:#}");
        let s: Settings = yimen_platform::config::load_from(
            None,
            env(&[("YIMEN__INTAKE__SMS_GATEWAY_URL", "http://10.0.0.5:8080/sms")]),
        )
        .unwrap();
        assert_eq!(s.intake.sms_gateway_url, "http://10.0.0.5:8080/sms");
    }
}
