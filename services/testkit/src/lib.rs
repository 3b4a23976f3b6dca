//! Test support shared by every crate's tests (a dev-dependency only, never in the product):
//! isolated stores and broker prefixes that remove themselves when the test ends, pass or
//! fail, the store suite macro, the consumer harness, an OTLP receiver, a metrics scraper, a test PKI for TLS and a TCP proxy that plays
//! network failures.
//!
//! When PostgreSQL or RabbitMQ is unreachable, tests fail loudly under CI (`CI` set) and
//! otherwise skip with a line saying what was skipped.

pub mod broker;
pub mod harness;
pub mod metrics;
pub mod otlp;
pub mod proxy;
pub mod stores;
pub mod tls;

/// For [`store_contract!`]'s tests.
#[doc(hidden)]
pub use tokio as __tokio;

use std::future::Future;
use std::time::Duration;

/// A call as the auth layer hands it on when it passed: the caller's principal in its
/// extensions, where the services' object-level checks read it.
pub fn as_caller<T>(caller: &yimen_platform::auth::Principal, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.extensions_mut().insert(caller.clone());
    request
}

/// The repository's root directory.
pub fn repo_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python that runs the project's tools: `.venv`'s (`make test` installs it from
/// deploy/helm/requirements.txt, as `make helm-check` does), else the system's python3.
pub fn python() -> std::path::PathBuf {
    let venv = repo_root().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

/// Under CI a missing service is a failure; elsewhere a skip with a clear line.
pub fn unavailable(what: &str, why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what} is required under CI but unreachable: {why}");
    }
    eprintln!("skipped: {what} unreachable ({why})");
}

/// How long one cleanup may take before it is given up (and reported).
const CLEANUP_PATIENCE: Duration = Duration::from_secs(30);

/// Runs an async cleanup to its end from `Drop`. It gets a thread and a runtime of its own:
/// the test's runtime may be single-threaded (blocking it would wait for itself) or already
/// shutting down, and a guard must clean up in both cases. A failure is reported, not
/// raised: the guard may be dropped while the test panics.
fn clean_up<F>(what: String, cleanup: F)
where
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let outcome = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            match tokio::time::timeout(CLEANUP_PATIENCE, cleanup).await {
                Ok(done) => done,
                Err(_) => Err(anyhow::anyhow!("no answer within {CLEANUP_PATIENCE:?}")),
            }
        })
    })
    .join();
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("test cleanup: could not remove {what}: {e:#}"),
        Err(_) => eprintln!("test cleanup: removing {what} panicked"),
    }
}

/// The test process's keyring of data keys (AES-256-GCM, made once and kept in memory), as a
/// process loads one from `security.data_key_file`: every use case and API a test builds over
/// a store reads what another sealed.
pub fn keyring() -> std::sync::Arc<yimen_platform::seal::Keyring> {
    use yimen_platform::seal::{Algorithm, KeyFile, Keyring};
    static KEYRING: std::sync::OnceLock<std::sync::Arc<Keyring>> = std::sync::OnceLock::new();
    KEYRING
        .get_or_init(|| {
            let file = KeyFile::generate(Algorithm::Aes256Gcm).expect("generate data keys");
            std::sync::Arc::new(Keyring::of(&file).expect("a keyring"))
        })
        .clone()
}
