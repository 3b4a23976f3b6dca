//! The data keys of an installation, on the binary's side: standalone makes its key file on
//! first start; `yimen keys init` makes one for a distributed installation; `yimen keys rotate`
//! adds a key version, makes it current and seals every stored value again with it, online,
//! batch by batch, in the stores of the services that declare sealed columns
//! (`Definition::SEALED`), reaching them with the same `database` settings the services use.
//! The sealing itself is the platform's (`yimen_platform::seal`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use yimen_platform::db::Db;
use yimen_platform::seal::{Algorithm, KeyFile, Keyring, reseal};

use crate::run::Target;
use crate::settings::Settings;

/// Where standalone keeps its data keys: `<data_dir>/keys/data.json`.
pub fn standalone_data_key_file(settings: &Settings) -> PathBuf {
    settings.standalone.data_dir.join("keys").join("data.json")
}

/// The data key file the settings name, else standalone's of the data dir.
pub fn data_key_file(settings: &Settings) -> PathBuf {
    settings
        .security
        .data_key_file
        .clone()
        .unwrap_or_else(|| standalone_data_key_file(settings))
}

/// Standalone's data keys: unless the settings name a file, `<data_dir>/keys/data.json`, made
/// (of `security.algorithm`) when missing, and the settings pointed at it.
pub fn prepare_standalone(settings: &mut Settings) -> anyhow::Result<()> {
    if settings.security.data_key_file.is_some() {
        return Ok(());
    }
    let file = standalone_data_key_file(settings);
    if !file.exists() {
        init(&file, settings.security.algorithm)?;
        tracing::info!(file = %file.display(), algorithm = %settings.security.algorithm, "data key file made");
    }
    settings.security.data_key_file = Some(file);
    Ok(())
}

/// Writes a new data key file of `algorithm` at `path` (owner-only); refuses to replace one.
pub fn init(path: &Path, algorithm: Algorithm) -> anyhow::Result<()> {
    KeyFile::generate(algorithm)?.create(path)
}

/// How far a re-sealing has come in one service's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub service: &'static str,
    pub done: u64,
    pub total: u64,
}

/// What a rotation did: the version now current and the rows sealed again, by service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub version: u32,
    pub resealed: BTreeMap<&'static str, u64>,
}

/// `yimen keys rotate`: adds a key version to the data key file and makes it current, then
/// [`reseal`]s every store. Running services read the new version on meeting it.
pub async fn rotate(
    settings: &Settings,
    batch: u32,
    progress: impl FnMut(Progress),
) -> anyhow::Result<Rotated> {
    let version = add_version(settings)?;
    let resealed = reseal_stores(settings, batch, progress).await?;
    Ok(Rotated { version, resealed })
}

/// Adds a key version to the data key file and makes it current (the file replaced whole);
/// answers the version.
pub fn add_version(settings: &Settings) -> anyhow::Result<u32> {
    let path = data_key_file(settings);
    let (mut file, _) = KeyFile::read(&path)?;
    let version = file.rotate()?;
    file.replace(&path)?;
    tracing::info!(file = %path.display(), version, "data key version added and made current");
    Ok(version)
}

/// Seals again, `batch` rows at a time, every value not at the key file's current version in
/// the store of each service with sealed columns; safe to run again after an interruption
/// (it takes up what is left). Answers the rows done by service.
pub async fn reseal_stores(
    settings: &Settings,
    batch: u32,
    mut progress: impl FnMut(Progress),
) -> anyhow::Result<BTreeMap<&'static str, u64>> {
    let keyring = Keyring::load(&data_key_file(settings))?;
    let mut resealed = BTreeMap::new();
    for target in Target::ALL {
        let tables = target.sealed();
        if tables.is_empty() {
            continue;
        }
        let service = target.name();
        let db = Db::connect(&settings.database, service).await?;
        let done = reseal::reseal_all(&db, &keyring, tables, batch, |done, total| {
            progress(Progress {
                service,
                done,
                total,
            })
        })
        .await
        .map_err(|e| anyhow::anyhow!("re-sealing {service}'s store: {e:#}"));
        db.close().await;
        resealed.insert(service, done?);
    }
    Ok(resealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standalone_makes_its_data_key_file_once() {
        let dir = yimen_testkit::stores::temp_dir("yimen-keys-");
        let mut settings = Settings::default();
        settings.standalone.data_dir = dir.path().to_path_buf();
        settings.security.algorithm = Algorithm::Sm4Gcm;
        let mut first = settings.clone();
        prepare_standalone(&mut first).expect("prepare");
        let file = dir.path().join("keys/data.json");
        assert_eq!(
            first.security.data_key_file.as_deref(),
            Some(file.as_path())
        );
        let made = std::fs::read(&file).expect("key file");
        let keyring = first.security.keyring().expect("keyring");
        assert_eq!(keyring.algorithm(), Algorithm::Sm4Gcm);
        let mut second = settings.clone();
        prepare_standalone(&mut second).expect("prepare again");
        assert_eq!(
            std::fs::read(&file).expect("key file"),
            made,
            "kept, not replaced"
        );
    }

    #[test]
    fn init_refuses_to_replace_a_key_file() {
        let dir = yimen_testkit::stores::temp_dir("yimen-keys-");
        let file = dir.path().join("data.json");
        init(&file, Algorithm::Aes256Gcm).expect("init");
        let err = init(&file, Algorithm::Aes256Gcm).expect_err("second init");
        assert!(err.to_string().contains("already exists"), "{err}");
    }
}
