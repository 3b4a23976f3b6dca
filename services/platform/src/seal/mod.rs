//! Personal data sealed at rest, written once for every service that keeps some: a keyring of
//! versioned data keys read from `security.data_key_file` ([`KeyFile`]), authenticated
//! encryption of one text value bound to its column ([`Keyring::seal`], [`Keyring::open`]),
//! the keyed hash that matches values without showing them ([`KeyedHash`]), and the online
//! re-encryption of a store's sealed columns after a rotation ([`reseal`]).
//!
//! A sealed value is stored as text, `v<version>:<base64(nonce ‖ ciphertext ‖ tag)>`, with a
//! random 96-bit nonce per value and the value's purpose (`intake.petitioners.id_number`) as
//! associated data, so a ciphertext copied into another column does not open. A value without
//! that prefix is legacy clear text (version 0), read as it is until `yimen keys rotate` seals
//! it. An empty value stays empty: it is the absence of a value, not a secret.
//!
//! AES-256-GCM with HMAC-SHA256 by default; SM4-GCM with HMAC-SM3 (国密) when
//! `security.algorithm = "sm4-gcm"`.

mod file;
pub mod reseal;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::cipher::consts::U12;
use aes_gcm::{Aes256Gcm, AesGcm};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};

pub use file::{KeyFile, KeyVersion};
pub use reseal::{SealedColumn, SealedTable};

/// The `[security]` settings section.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// The data key file (JSON, [`KeyFile`]): every key version, the current one and the
    /// lookup key. Standalone makes `<data_dir>/keys/data.json` when this is unset; `serve`
    /// requires it (make one with `yimen keys init --file F`).
    pub data_key_file: Option<PathBuf>,
    /// The cipher of new key files: `aes-256-gcm` (HMAC-SHA256 lookups) or `sm4-gcm`
    /// (HMAC-SM3 lookups, 国密). A key file of the other algorithm is refused.
    pub algorithm: Algorithm,
}

impl SecurityConfig {
    /// The keyring of `data_key_file`, or an error saying how to get one.
    pub fn keyring(&self) -> anyhow::Result<Keyring> {
        let Some(path) = &self.data_key_file else {
            anyhow::bail!(
                "security.data_key_file is not set: make a data key file with `yimen keys init --file F` \
                 and give every service YIMEN__SECURITY__DATA_KEY_FILE=F (standalone makes its own)"
            );
        };
        let keyring = Keyring::load(path)?;
        if keyring.algorithm() != self.algorithm {
            anyhow::bail!(
                "data key file {} holds {} keys but security.algorithm is {}",
                path.display(),
                keyring.algorithm(),
                self.algorithm
            );
        }
        Ok(keyring)
    }
}

/// The cipher of sealed values and the hash of lookups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum Algorithm {
    /// AES-256-GCM; lookups HMAC-SHA256.
    #[default]
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
    /// SM4-GCM (GB/T 32907 in GCM mode); lookups HMAC-SM3 (GB/T 32905).
    #[serde(rename = "sm4-gcm")]
    Sm4Gcm,
}

impl Algorithm {
    /// The length of a data key in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Algorithm::Aes256Gcm => 32,
            Algorithm::Sm4Gcm => 16,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Aes256Gcm => "aes-256-gcm",
            Algorithm::Sm4Gcm => "sm4-gcm",
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "aes-256-gcm" => Ok(Algorithm::Aes256Gcm),
            "sm4-gcm" => Ok(Algorithm::Sm4Gcm),
            other => Err(format!(
                "`{other}` is not an algorithm: aes-256-gcm or sm4-gcm"
            )),
        }
    }
}

type Sm4Gcm = AesGcm<sm4::Sm4, U12>;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// One data key, ready to use.
enum Cipher {
    Aes(Box<Aes256Gcm>),
    Sm4(Box<Sm4Gcm>),
}

impl Cipher {
    fn new(algorithm: Algorithm, key: &[u8]) -> Result<Self, SealError> {
        let bad = |_| SealError::File("a key has the wrong length".into());
        Ok(match algorithm {
            Algorithm::Aes256Gcm => {
                Cipher::Aes(Box::new(Aes256Gcm::new_from_slice(key).map_err(bad)?))
            }
            Algorithm::Sm4Gcm => Cipher::Sm4(Box::new(Sm4Gcm::new_from_slice(key).map_err(bad)?)),
        })
    }

    fn encrypt(&self, nonce: &[u8; NONCE_LEN], msg: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        let payload = Payload { msg, aad };
        match self {
            Cipher::Aes(c) => c.encrypt(&(*nonce).into(), payload).ok(),
            Cipher::Sm4(c) => c.encrypt(&(*nonce).into(), payload).ok(),
        }
    }

    fn decrypt(&self, nonce: &[u8; NONCE_LEN], msg: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        let payload = Payload { msg, aad };
        match self {
            Cipher::Aes(c) => c.decrypt(&(*nonce).into(), payload).ok(),
            Cipher::Sm4(c) => c.decrypt(&(*nonce).into(), payload).ok(),
        }
    }
}

/// Why a value could not be sealed or opened, or a key file not used. Never carries a value
/// or a key.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("{0}")]
    File(String),
    #[error(
        "a value sealed with key version {0} cannot be opened: the data key file has no such version"
    )]
    UnknownVersion(u32),
    #[error(
        "a sealed value of {0} does not open: altered, moved from another column, or not sealed with this key"
    )]
    Tampered(String),
    #[error(
        "this process holds no data keys (security.data_key_file): none of its services keeps sealed data"
    )]
    NoKeys,
    #[error("no randomness for a nonce: {0}")]
    Randomness(String),
}

/// A keyed hash for lookups and matching: the same value gives the same hex on every call,
/// and nothing about the value without the key.
#[derive(Clone)]
pub struct KeyedHash {
    algorithm: Algorithm,
    key: Vec<u8>,
}

impl KeyedHash {
    /// HMAC-SHA256 (aes-256-gcm) or HMAC-SM3 (sm4-gcm) under `key`.
    pub fn new(algorithm: Algorithm, key: &[u8]) -> Self {
        Self {
            algorithm,
            key: key.to_vec(),
        }
    }

    /// The lowercase hex keyed hash of `value`.
    pub fn hex(&self, value: &[u8]) -> String {
        match self.algorithm {
            Algorithm::Aes256Gcm => mac::<Hmac<sha2::Sha256>>(&self.key, value),
            Algorithm::Sm4Gcm => mac::<Hmac<sm3::Sm3>>(&self.key, value),
        }
    }
}

fn mac<M: Mac + KeyInit>(key: &[u8], value: &[u8]) -> String {
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(value);
    hex::encode(mac.finalize().into_bytes())
}

impl std::fmt::Debug for KeyedHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyedHash({}, <redacted>)", self.algorithm)
    }
}

/// What a key file holds, ready to use.
struct Loaded {
    algorithm: Algorithm,
    current: u32,
    ciphers: BTreeMap<u32, Cipher>,
    lookup: KeyedHash,
    /// The file's modification time when it was read.
    modified: Option<SystemTime>,
}

impl Loaded {
    fn of(file: &KeyFile, modified: Option<SystemTime>) -> Result<Self, SealError> {
        let mut ciphers = BTreeMap::new();
        for key in &file.keys {
            ciphers.insert(key.id, Cipher::new(file.algorithm, &key.bytes()?)?);
        }
        Ok(Self {
            algorithm: file.algorithm,
            current: file.current,
            ciphers,
            lookup: KeyedHash::new(file.algorithm, &file.lookup_bytes()?),
            modified,
        })
    }
}

/// How often a keyring may read its file again: on meeting a version it does not know, and
/// (to start sealing with a newer current key) when the file changed.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// The data keys of an installation, shared by every store of a process. It reads its file
/// again (at most once per [`RELOAD_INTERVAL`]) when it meets a value sealed with a version it
/// does not know, and when sealing finds the file changed, so a running service reads and
/// writes with the keys of an online rotation.
pub struct Keyring {
    path: Option<PathBuf>,
    loaded: RwLock<Loaded>,
    /// When a version it did not know last made it read the file.
    reloaded: Mutex<Option<Instant>>,
    /// When sealing last looked at the file's modification time.
    checked: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let loaded = self.loaded.read().expect("keyring lock");
        f.debug_struct("Keyring")
            .field("path", &self.path)
            .field("algorithm", &loaded.algorithm)
            .field("current", &loaded.current)
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// The keyring of the key file at `path`; the error names the file and what is wrong.
    pub fn load(path: &Path) -> Result<Self, SealError> {
        let (file, modified) = KeyFile::read(path)?;
        Ok(Self {
            path: Some(path.to_path_buf()),
            loaded: RwLock::new(Loaded::of(&file, modified)?),
            reloaded: Mutex::new(None),
            checked: Mutex::new(None),
        })
    }

    /// The keyring of a process none of whose services keeps sealed data: it holds no key, and
    /// sealing or opening a sealed value fails saying so.
    pub fn without_keys() -> Self {
        Self {
            path: None,
            loaded: RwLock::new(Loaded {
                algorithm: Algorithm::default(),
                current: 0,
                ciphers: BTreeMap::new(),
                lookup: KeyedHash::new(Algorithm::default(), &[]),
                modified: None,
            }),
            reloaded: Mutex::new(None),
            checked: Mutex::new(None),
        }
    }

    /// A keyring of `file` kept only in memory (tests, tools): it never reloads.
    pub fn of(file: &KeyFile) -> Result<Self, SealError> {
        Ok(Self {
            path: None,
            loaded: RwLock::new(Loaded::of(file, None)?),
            reloaded: Mutex::new(None),
            checked: Mutex::new(None),
        })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.read().algorithm
    }

    /// The version new values are sealed with.
    pub fn current_version(&self) -> u32 {
        self.read().current
    }

    /// The keyed hash under the file's lookup key (it does not change with rotations).
    pub fn keyed_hash(&self) -> KeyedHash {
        self.read().lookup.clone()
    }

    /// `clear` sealed with the current key for `purpose` (the column it is kept in); "" stays "".
    pub fn seal(&self, purpose: &str, clear: &str) -> Result<String, SealError> {
        if clear.is_empty() {
            return Ok(String::new());
        }
        self.refresh_if_changed();
        let loaded = self.read();
        let cipher = loaded
            .ciphers
            .get(&loaded.current)
            .ok_or(SealError::NoKeys)?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SealError::Randomness(e.to_string()))?;
        let sealed = cipher
            .encrypt(&nonce, clear.as_bytes(), purpose.as_bytes())
            .ok_or_else(|| SealError::Tampered(purpose.to_string()))?;
        let mut body = Vec::with_capacity(NONCE_LEN + sealed.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&sealed);
        Ok(format!("v{}:{}", loaded.current, BASE64.encode(body)))
    }

    /// The clear text of `stored`, a value kept for `purpose`: sealed (any version this
    /// keyring knows, reading the file again for one it does not) or legacy clear text.
    pub fn open(&self, purpose: &str, stored: &str) -> Result<String, SealError> {
        let Some((version, body)) = split(stored) else {
            return Ok(stored.to_string());
        };
        if !self.read().ciphers.contains_key(&version) {
            self.reload_for_unknown_version();
        }
        let loaded = self.read();
        let cipher = loaded
            .ciphers
            .get(&version)
            .ok_or(SealError::UnknownVersion(version))?;
        let tampered = || SealError::Tampered(purpose.to_string());
        let bytes = BASE64.decode(body).map_err(|_| tampered())?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(tampered());
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| tampered())?;
        let clear = cipher
            .decrypt(&nonce, sealed, purpose.as_bytes())
            .ok_or_else(tampered)?;
        String::from_utf8(clear).map_err(|_| tampered())
    }

    /// `stored` sealed for `purpose` again with the current key, or None when it already is
    /// (or is empty).
    pub fn reseal(&self, purpose: &str, stored: &str) -> Result<Option<String>, SealError> {
        if stored.is_empty() || self.is_current(stored) {
            return Ok(None);
        }
        let clear = self.open(purpose, stored)?;
        self.seal(purpose, &clear).map(Some)
    }

    /// Whether `stored` is sealed with the current key version.
    pub fn is_current(&self, stored: &str) -> bool {
        split(stored).is_some_and(|(v, _)| v == self.current_version())
    }

    /// The prefix of values sealed with the current version (`v3:`), for queries.
    pub fn current_prefix(&self) -> String {
        format!("v{}:", self.current_version())
    }

    /// Reads the file again, unless a version it did not know made it do so less than
    /// [`RELOAD_INTERVAL`] ago (a flood of unknown versions costs one read per interval).
    fn reload_for_unknown_version(&self) {
        {
            let mut last = self.reloaded.lock().expect("keyring lock");
            if last.is_some_and(|at| at.elapsed() < RELOAD_INTERVAL) {
                return;
            }
            *last = Some(Instant::now());
        }
        self.reload();
    }

    /// Reads the file again when its modification time changed since it was read (looked at
    /// at most once per [`RELOAD_INTERVAL`]), so new values take the key a rotation made current.
    fn refresh_if_changed(&self) {
        let Some(path) = &self.path else { return };
        {
            let mut last = self.checked.lock().expect("keyring lock");
            if last.is_some_and(|at| at.elapsed() < RELOAD_INTERVAL) {
                return;
            }
            *last = Some(Instant::now());
        }
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if modified != self.read().modified {
            self.reload();
        }
    }

    /// Reads the file again. One that cannot be read, or now holds another algorithm's keys,
    /// leaves the keys already loaded (said in the log, without key material).
    fn reload(&self) {
        let Some(path) = &self.path else { return };
        match KeyFile::read(path).and_then(|(file, modified)| Loaded::of(&file, modified)) {
            Ok(fresh) if fresh.algorithm == self.algorithm() => {
                let current = fresh.current;
                *self.loaded.write().expect("keyring lock") = fresh;
                tracing::info!(file = %path.display(), current, "data keys read again");
            }
            Ok(_) => tracing::error!(
                file = %path.display(),
                "the data key file now holds keys of another algorithm; keeping the keys loaded"
            ),
            Err(e) => {
                tracing::error!(error = %e, "data key file unreadable; keeping the keys loaded")
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.loaded.read().expect("keyring lock")
    }
}

/// The version and body of a sealed value; None for legacy clear text.
fn split(stored: &str) -> Option<(u32, &str)> {
    let rest = stored.strip_prefix('v')?;
    let (version, body) = rest.split_once(':')?;
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) || body.is_empty() {
        return None;
    }
    Some((version.parse().ok()?, body))
}

#[cfg(test)]
mod tests;
