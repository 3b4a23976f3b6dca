//! A PostgreSQL server and a RabbitMQ node of the run's own, for `yimen chaos`: it stops and
//! restarts them, which it must never do to the machine's. Each lives in a temporary directory,
//! listens on free ports of 127.0.0.1 only, and is stopped and removed when dropped, however
//! the run ends.
//!
//! PostgreSQL 15's `initdb` and `pg_ctl` run as the `postgres` user when this runs as root
//! (`initdb` refuses root). The RabbitMQ node is a second node of the installed server, with
//! its own name, cookie (`HOME`), data, logs, no plugins, and an `epmd` of its own.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

/// Where PostgreSQL 15's programs are (`YIMEN_CHAOS_PG_BIN` to name others).
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// Where RabbitMQ's own scripts are (not the /usr/sbin wrappers, which switch user).
const RABBITMQ_BIN: &str = "/usr/lib/rabbitmq/bin";

/// A free TCP port of 127.0.0.1 (the OS's pick, released at once).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Runs `command`, failing with its output when it fails.
fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{what} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout).trim(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// A private PostgreSQL server (trust authentication, user `postgres`, loopback only).
pub struct Postgres {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
}

impl Postgres {
    /// Makes a cluster in `dir` (created) and starts it.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        let bin = std::env::var_os("YIMEN_CHAOS_PG_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(PG_BIN));
        std::fs::create_dir_all(dir)?;
        if is_root() {
            run(
                Command::new("chown").arg("postgres:").arg(dir),
                "chown of the PostgreSQL directory",
            )?;
        }
        let postgres = Self {
            dir: dir.to_path_buf(),
            port: free_port()?,
            bin,
        };
        run(
            postgres.pg("initdb").arg("-D").arg(postgres.data()).args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ]),
            "initdb",
        )?;
        postgres.up()?;
        Ok(postgres)
    }

    /// The URL of database `name` on it.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// The fault: stopped at once (`-m immediate`: no shutdown checkpoint, every connection
    /// cut, recovery from the WAL on the next start).
    pub fn stop_immediately(&self) -> anyhow::Result<()> {
        run(
            self.pg("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "stop"]),
            "pg_ctl stop",
        )
    }

    /// Starts it (again) and waits until it takes connections.
    pub fn up(&self) -> anyhow::Result<()> {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=200",
            self.port,
            self.dir.display()
        );
        run(
            self.pg("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(self.dir.join("postgres.log"))
                .args(["-w", "-t", "60", "-o", &options, "start"]),
            "pg_ctl start",
        )
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// One of PostgreSQL's programs, as `postgres` when this runs as root.
    fn pg(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        command.stdin(Stdio::null());
        command
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A private RabbitMQ node (guest/guest, reached on loopback only).
pub struct Rabbit {
    dir: PathBuf,
    node: String,
    port: u16,
    dist_port: u16,
    epmd_port: u16,
    ctl_port: u16,
    server: Option<Child>,
}

impl Rabbit {
    /// Starts a node with its files in `dir` (created) and waits until it has booted.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("enabled_plugins"), "[].\n")?;
        let mut rabbit = Self {
            dir: dir.to_path_buf(),
            node: format!("yimen-chaos-{}@localhost", std::process::id()),
            port: free_port()?,
            dist_port: free_port()?,
            epmd_port: free_port()?,
            ctl_port: free_port()?,
            server: None,
        };
        rabbit.up()?;
        Ok(rabbit)
    }

    /// Its AMQP URL.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Starts the node (again) and waits until it has booted.
    pub fn up(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.out"))?;
        let child = self
            .command("rabbitmq-server")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start rabbitmq-server")?;
        self.server = Some(child);
        // `await_startup` fails at once while the node has not yet registered with its epmd.
        let started = std::time::Instant::now();
        loop {
            let booted = run(
                self.command("rabbitmqctl").args([
                    "-n",
                    &self.node,
                    "await_startup",
                    "--timeout",
                    "60",
                ]),
                "rabbitmqctl await_startup",
            );
            let exited = match self.server.as_mut() {
                Some(server) => server.try_wait()?,
                None => None,
            };
            match (booted, exited) {
                (Ok(()), _) => return Ok(()),
                (Err(e), Some(status)) => {
                    anyhow::bail!(
                        "rabbitmq-server exited ({status}); see {}: {e}",
                        self.dir.join("server.out").display()
                    )
                }
                (Err(e), None) if started.elapsed() > Duration::from_secs(90) => return Err(e),
                (Err(_), None) => std::thread::sleep(Duration::from_millis(300)),
            }
        }
    }

    /// Stops the node (every connection dropped), waiting until it is gone.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let stopped = run(
            self.command("rabbitmqctl").args(["-n", &self.node, "stop"]),
            "rabbitmqctl stop",
        );
        if let Some(mut server) = self.server.take() {
            if stopped.is_err() {
                let _ = server.kill();
            }
            let _ = server.wait();
        }
        stopped
    }

    /// One of RabbitMQ's scripts, with the node's environment.
    fn command(&self, program: &str) -> Command {
        let dir = &self.dir;
        let loopback = "-kernel inet_dist_use_interface {127,0,0,1}";
        let mut command = Command::new(Path::new(RABBITMQ_BIN).join(program));
        command
            .stdin(Stdio::null())
            .env("HOME", dir)
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_CTL_DIST_PORT_MIN", self.ctl_port.to_string())
            .env("RABBITMQ_CTL_DIST_PORT_MAX", self.ctl_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", dir.join("advanced.config"))
            .env("RABBITMQ_CONF_ENV_FILE", dir.join("rabbitmq-env.conf"))
            .env("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", loopback)
            .env("RABBITMQ_CTL_ERL_ARGS", loopback)
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env("ERL_EPMD_PORT", self.epmd_port.to_string());
        command
    }
}

impl Drop for Rabbit {
    fn drop(&mut self) {
        let _ = self.stop();
        // The node started an epmd of its own on its port: it outlives the node.
        let _ = Command::new("epmd")
            .args(["-port", &self.epmd_port.to_string(), "-kill"])
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // Give the node's last processes a moment to let go of their files.
        std::thread::sleep(Duration::from_millis(200));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
