//! The keys and tokens of an installation, on the binary's side: standalone makes its own
//! signing key and JWKS on first start and leaves a fresh administrator's token for the CLI;
//! `yimen auth init` and `yimen token issue` do the same by hand for a distributed installation.
//! Verification itself is the platform's (`yimen_platform::auth`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use yimen_platform::auth::{Principal, Role, Signer, generate_keys};

use crate::settings::Settings;

/// How long the token standalone writes for its operator stays valid; every start writes a new
/// one.
pub const OPERATOR_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Where standalone keeps its keys: `<data_dir>/auth/`.
pub fn standalone_key_dir(settings: &Settings) -> PathBuf {
    settings.standalone.data_dir.join("auth")
}

/// Where standalone writes its operator's token: `<data_dir>/operator.token`.
pub fn operator_token_file(settings: &Settings) -> PathBuf {
    settings.standalone.data_dir.join("operator.token")
}

/// The signing key `yimen token issue` uses: `auth.signing_key_file`, else the standalone
/// key of this directory's data dir.
pub fn signing_key_file(settings: &Settings) -> PathBuf {
    settings
        .auth
        .signing_key_file
        .clone()
        .unwrap_or_else(|| standalone_key_dir(settings).join("signing.pem"))
}

/// Standalone's keys and token: its data key file ([`crate::keys::prepare_standalone`]), the
/// key pair under `<data_dir>/auth/` made when missing, the settings pointed at them (unless
/// they name other files), and an administrator's token written to `<data_dir>/operator.token`
/// (readable by its owner only). Answers the token.
pub fn prepare_standalone(settings: &mut Settings) -> anyhow::Result<String> {
    crate::keys::prepare_standalone(settings)?;
    let dir = standalone_key_dir(settings);
    let made = dir.join("jwks.json");
    if settings.auth.verify_keys_file.is_none() {
        if !made.exists() || !dir.join("signing.pem").exists() {
            generate_keys(&dir)?;
            tracing::info!(dir = %dir.display(), "signing key and JWKS made");
        }
        settings.auth.verify_keys_file = Some(made);
    }
    let signing = signing_key_file(settings);
    let token = issue(settings, &signing, &operator(), OPERATOR_TOKEN_TTL)?;
    write_secret(&operator_token_file(settings), &token)?;
    Ok(token)
}

/// The administrator standalone's token speaks for.
fn operator() -> Principal {
    Principal {
        subject: "operator".into(),
        role: Role::Admin,
        department: None,
        committee: None,
    }
}

/// A token for `principal`, signed with the key at `signing`.
pub fn issue(
    settings: &Settings,
    signing: &Path,
    principal: &Principal,
    ttl: Duration,
) -> anyhow::Result<String> {
    let signer = Signer::from_file(signing, &settings.auth).map_err(|e| {
        anyhow::anyhow!(
            "cannot sign with {}: {e:#} (set auth.signing_key_file, or run `yimen auth init`)",
            signing.display()
        )
    })?;
    signer.issue(principal, ttl)
}

/// Writes `text` to `path`, readable and writable by its owner only, replacing what was there.
fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            anyhow::bail!("cannot replace {}: {e}", path.display())
        }
        _ => {}
    }
    yimen_platform::files::write_private(path, format!("{text}\n").as_bytes())
}

/// A duration as operators write it: `90s`, `30m`, `8h`, `7d`.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 90s, 30m, 8h or 7d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "`{text}` is not a duration like 90s, 30m, 8h or 7d"
            ));
        }
    };
    if number == 0 {
        return Err("a token's lifetime must be more than 0".into());
    }
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_read_as_operators_write_them() {
        assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_ttl("8h"), Ok(Duration::from_secs(8 * 3600)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 86_400)));
        for bad in ["", "8", "h", "8x", "0h", "-1h", "99999999999999999999d"] {
            assert!(parse_ttl(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn standalone_makes_its_keys_once_and_a_fresh_owner_only_token_each_start() {
        let dir = yimen_testkit::stores::temp_dir("yimen-auth-");
        let mut settings = Settings::default();
        settings.standalone.data_dir = dir.path().to_path_buf();
        let settings = settings.into_standalone();

        let mut first = settings.clone();
        let token = prepare_standalone(&mut first).expect("prepare");
        let jwks = dir.path().join("auth/jwks.json");
        assert_eq!(first.auth.verify_keys_file.as_deref(), Some(jwks.as_path()));
        let key_before = std::fs::read(dir.path().join("auth/signing.pem")).expect("key");
        let written = std::fs::read_to_string(operator_token_file(&first)).expect("token file");
        assert_eq!(written.trim(), token);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(operator_token_file(&first))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the token file is readable by others");
        }
        let verifier =
            yimen_platform::auth::Verifier::from_jwks_file(&jwks, &first.auth).expect("verifier");
        let principal = verifier.verify(&token).expect("the token verifies");
        assert_eq!(principal.role, Role::Admin);

        let mut second = settings.clone();
        prepare_standalone(&mut second).expect("prepare again");
        assert_eq!(
            std::fs::read(dir.path().join("auth/signing.pem")).expect("key"),
            key_before,
            "a second start keeps the key, so earlier tokens stay valid"
        );
        assert!(verifier.verify(&token).is_ok());
    }
}
