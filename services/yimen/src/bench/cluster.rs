//! The five services as five `yimen serve` processes of this very binary, each on a free port
//! of 127.0.0.1 (and its metrics on another), configured by `YIMEN__…` variables only, with
//! its output in a log file of its own: started, killed (`SIGKILL`) and started again on the
//! same ports. Dropped, they are killed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};
use tonic_health::pb::health_check_response::ServingStatus;

use crate::client::Urls;
use crate::run::Target;

/// The running processes of an installation.
pub struct Cluster {
    bin: PathBuf,
    env: Vec<(String, String)>,
    logs: PathBuf,
    ports: BTreeMap<Target, u16>,
    /// Where each serves its metrics: the default port would be one for all five.
    metrics_ports: BTreeMap<Target, u16>,
    children: BTreeMap<Target, Child>,
}

impl Cluster {
    /// Migrates the stores and declares the queues (`yimen migrate`, the departments of the
    /// built-in list joined), then starts the five services; `env` is their configuration,
    /// `logs` the directory their output goes to.
    pub async fn start(env: Vec<(String, String)>, logs: &Path) -> anyhow::Result<Self> {
        let mut cluster = Self {
            bin: std::env::current_exe().context("cannot find this binary")?,
            env,
            logs: logs.to_path_buf(),
            ports: BTreeMap::new(),
            metrics_ports: BTreeMap::new(),
            children: BTreeMap::new(),
        };
        let migrate = cluster
            .command("migrate")
            .args(["--departments", yimen_dispatch::seed::BUILTIN_NAME])
            .output()
            .await?;
        anyhow::ensure!(
            migrate.status.success(),
            "yimen migrate failed: {}",
            String::from_utf8_lossy(&migrate.stderr).trim()
        );
        for target in Target::ALL {
            cluster.ports.insert(target, super::private::free_port()?);
            cluster
                .metrics_ports
                .insert(target, super::private::free_port()?);
            cluster.spawn(target)?;
        }
        Ok(cluster)
    }

    /// Where the services answer, calls presenting `token`.
    pub fn urls(&self, token: &str) -> Urls {
        Urls::from_fn(|t| format!("http://127.0.0.1:{}", self.ports[&t])).with_token(token)
    }

    /// Kills `target`'s process without warning (`SIGKILL`) and waits until it is gone.
    pub async fn kill(&mut self, target: Target) -> anyhow::Result<()> {
        if let Some(mut child) = self.children.remove(&target) {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }

    /// Starts `target`'s process (again), on its ports.
    pub fn spawn(&mut self, target: Target) -> anyhow::Result<()> {
        let name = target.name();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{name}.log")))?;
        let listen = format!("YIMEN__{}__LISTEN", name.to_uppercase());
        let child = self
            .command("serve")
            .args(["--target", name])
            .env(listen, format!("127.0.0.1:{}", self.ports[&target]))
            .env(
                "YIMEN__TELEMETRY__METRICS_LISTEN",
                format!("127.0.0.1:{}", self.metrics_ports[&target]),
            )
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        self.children.insert(target, child);
        Ok(())
    }

    /// Waits until every service answers SERVING to its readiness check, for at most
    /// `patience`.
    pub async fn ready(&self, patience: Duration) -> anyhow::Result<()> {
        for target in Target::ALL {
            let url = format!("http://127.0.0.1:{}", self.ports[&target]);
            crate::client::eventually(&format!("{} serves", target.name()), patience, || {
                let url = url.clone();
                async move {
                    let tls = crate::client::ClientTls::default();
                    let status = crate::client::health(target.name(), &url, &tls, "").await;
                    Ok(status
                        .ok()
                        .filter(|s| *s == ServingStatus::Serving)
                        .map(|_| ()))
                }
            })
            .await?;
        }
        Ok(())
    }

    /// Asks every process to stop (`SIGTERM`) and waits, for at most `patience`, until they
    /// have; those still running are killed.
    pub async fn stop(mut self, patience: Duration) {
        for child in self.children.values() {
            if let Some(pid) = child.id() {
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .await;
            }
        }
        for (_, mut child) in std::mem::take(&mut self.children) {
            if tokio::time::timeout(patience, child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
    }

    /// `yimen <verb>` with the installation's configuration.
    fn command(&self, verb: &str) -> Command {
        let mut command = Command::new(&self.bin);
        // Only the installation's configuration: none inherited from whoever runs this.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("YIMEN_") {
                command.env_remove(key);
            }
        }
        command
            .arg(verb)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        command
    }
}
