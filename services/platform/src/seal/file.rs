//! The data key file: JSON holding the algorithm, every key version (id, when it was made,
//! the key in base64) with the one new values are sealed with, and the lookup key of the
//! keyed hashes. yimen writes it readable by its owner only, and replaces it whole (a
//! temporary file renamed over it), so a service reading it never sees half a file.

use std::path::Path;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::{Algorithm, SealError};

/// The length of the lookup (HMAC) key in bytes, whatever the algorithm.
const LOOKUP_KEY_LEN: usize = 32;

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    pub algorithm: Algorithm,
    /// The version new values are sealed with.
    pub current: u32,
    /// Every version ever made, oldest first: values sealed with any of them stay readable.
    pub keys: Vec<KeyVersion>,
    /// The key of the keyed hashes (base64). It never rotates: a new one would stop today's
    /// hashes matching earlier ones.
    pub lookup_key: String,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyVersion {
    /// 1, 2, ...: the `v<id>:` of the values it sealed.
    pub id: u32,
    /// RFC 3339.
    pub created_at: String,
    /// The key, base64.
    pub key: String,
}

// By hand, so no key reaches a log line.
impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile")
            .field("algorithm", &self.algorithm)
            .field("current", &self.current)
            .field(
                "versions",
                &self.keys.iter().map(|k| k.id).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for KeyVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVersion")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

fn random(len: usize) -> Result<String, SealError> {
    let mut key = vec![0u8; len];
    getrandom::fill(&mut key).map_err(|e| SealError::Randomness(e.to_string()))?;
    Ok(BASE64.encode(key))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl KeyFile {
    /// A new file of `algorithm`: key version 1, current, and a lookup key, from the OS CSPRNG.
    pub fn generate(algorithm: Algorithm) -> Result<Self, SealError> {
        Ok(Self {
            algorithm,
            current: 1,
            keys: vec![KeyVersion {
                id: 1,
                created_at: now(),
                key: random(algorithm.key_len())?,
            }],
            lookup_key: random(LOOKUP_KEY_LEN)?,
        })
    }

    /// Adds a new key version and makes it current; answers its id.
    pub fn rotate(&mut self) -> Result<u32, SealError> {
        let id = self.keys.iter().map(|k| k.id).max().unwrap_or(0) + 1;
        self.keys.push(KeyVersion {
            id,
            created_at: now(),
            key: random(self.algorithm.key_len())?,
        });
        self.current = id;
        Ok(id)
    }

    /// The file at `path`, checked, and when it was last modified.
    pub fn read(path: &Path) -> Result<(Self, Option<SystemTime>), SealError> {
        let named =
            |what: String| SealError::File(format!("data key file {}: {what}", path.display()));
        let text =
            std::fs::read_to_string(path).map_err(|e| named(format!("cannot read it: {e}")))?;
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let file: KeyFile = serde_json::from_str(&text).map_err(|e| {
            // serde may quote the text it met (a key, say): then only the place is said.
            let said = e.to_string();
            named(if said.contains('"') {
                format!("not a key file (line {}, column {})", e.line(), e.column())
            } else {
                format!("not a key file: {said}")
            })
        })?;
        file.check().map_err(named)?;
        Ok((file, modified))
    }

    /// What is wrong with the file, if anything.
    fn check(&self) -> Result<(), String> {
        if self.keys.is_empty() {
            return Err("it holds no key".into());
        }
        for (i, key) in self.keys.iter().enumerate() {
            if self.keys[..i].iter().any(|k| k.id == key.id) {
                return Err(format!("key version {} appears twice", key.id));
            }
            if key.id == 0 {
                return Err("key version 0 is reserved for clear text".into());
            }
            match BASE64.decode(&key.key) {
                Ok(bytes) if bytes.len() == self.algorithm.key_len() => {}
                _ => {
                    return Err(format!(
                        "key version {} is not {} bytes of base64 ({})",
                        key.id,
                        self.algorithm.key_len(),
                        self.algorithm
                    ));
                }
            }
        }
        if !self.keys.iter().any(|k| k.id == self.current) {
            return Err(format!(
                "the current version {} is not among its keys",
                self.current
            ));
        }
        match BASE64.decode(&self.lookup_key) {
            Ok(bytes) if bytes.len() >= 16 => Ok(()),
            _ => Err("lookup_key is not at least 16 bytes of base64".into()),
        }
    }

    pub(super) fn lookup_bytes(&self) -> Result<Vec<u8>, SealError> {
        BASE64
            .decode(&self.lookup_key)
            .map_err(|_| SealError::File("lookup_key is not base64".into()))
    }

    /// Writes a new file at `path` (mode 0600), refusing to replace one.
    pub fn create(&self, path: &Path) -> anyhow::Result<()> {
        if path.exists() {
            anyhow::bail!(
                "{} already exists; a key file is never overwritten",
                path.display()
            );
        }
        self.write(path)
    }

    /// Replaces the file at `path` whole (mode 0600): written beside it, then renamed over it.
    pub fn replace(&self, path: &Path) -> anyhow::Result<()> {
        let name = path
            .file_name()
            .ok_or_else(|| anyhow::anyhow!("{} is not a file name", path.display()))?;
        let mut temporary = name.to_os_string();
        temporary.push(".new");
        let temporary = path.with_file_name(temporary);
        let _ = std::fs::remove_file(&temporary);
        self.write(&temporary)?;
        std::fs::rename(&temporary, path)
            .map_err(|e| anyhow::anyhow!("cannot replace {}: {e}", path.display()))
    }

    fn write(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)? + "\n";
        crate::files::write_private(path, text.as_bytes())
    }
}

impl KeyVersion {
    pub(super) fn bytes(&self) -> Result<Vec<u8>, SealError> {
        BASE64
            .decode(&self.key)
            .map_err(|_| SealError::File(format!("key version {} is not base64", self.id)))
    }
}
