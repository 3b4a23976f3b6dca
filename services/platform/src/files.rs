//! Secret files (signing keys, data keys, tokens): written once here, new and readable by their
//! owner only.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;

/// Writes a new file at `path` (its directory made when missing) that only its owner can read
/// (mode 0600 on Unix), flushed to disk; an existing file is an error, never overwritten.
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}
