//! Configuration: built-in defaults, then an optional file (`--config path`, TOML), then the
//! environment (`YIMEN__SECTION__KEY`). A bad value fails at start with the key named.

use std::path::Path;

use serde::de::DeserializeOwned;

/// Loads `T` from the layers. `defaults` is `T::default()`, so every key has a working value.
pub fn load<T>(file: Option<&Path>) -> anyhow::Result<T>
where
    T: DeserializeOwned + serde::Serialize + Default,
{
    load_from(file, std::env::vars())
}

/// As [`load`], with the environment given (tests pass their own).
pub fn load_from<T>(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<T>
where
    T: DeserializeOwned + serde::Serialize + Default,
{
    let defaults = config::Config::try_from(&T::default())?;
    let mut builder = config::Config::builder().add_source(defaults);
    if let Some(file) = file {
        anyhow::ensure!(file.exists(), "config file {} not found", file.display());
        builder = builder.add_source(config::File::from(file).format(config::FileFormat::Toml));
    }
    let env: config::Map<String, String> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("YIMEN__"))
        .collect();
    builder = builder.add_source(
        config::Environment::with_prefix("YIMEN")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .source(Some(env)),
    );
    let settings = builder
        .build()
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    settings
        .try_deserialize()
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))
}
