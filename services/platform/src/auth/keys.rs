//! Token keys: yimen's own Ed25519 key pair (made once, kept as PKCS#8 PEM and a JWKS), the
//! signer that issues tokens with it, and the verifier that accepts tokens signed by any key of
//! a JWKS, ours or an identity provider's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse,
    ThumbprintHash,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{AuthConfig, AuthError, Principal, Role};

/// The algorithms a token may be signed with: ours, and what identity providers use.
const ACCEPTED: [Algorithm; 3] = [Algorithm::EdDSA, Algorithm::RS256, Algorithm::ES256];

/// Where [`generate_keys`] put the key pair.
#[derive(Clone, Debug)]
pub struct KeyFiles {
    /// PKCS#8 PEM of the Ed25519 private key, readable by its owner only.
    pub signing_key: PathBuf,
    /// The public key as a JWKS, for `auth.verify_keys_file`.
    pub jwks: PathBuf,
}

impl KeyFiles {
    pub fn in_dir(dir: &Path) -> KeyFiles {
        KeyFiles {
            signing_key: dir.join("signing.pem"),
            jwks: dir.join("jwks.json"),
        }
    }
}

/// Makes a new Ed25519 key pair in `dir`: `signing.pem` (mode 0600) and `jwks.json`. Refuses to
/// overwrite existing keys, since every token they signed would stop verifying.
pub fn generate_keys(dir: &Path) -> anyhow::Result<KeyFiles> {
    let files = KeyFiles::in_dir(dir);
    for path in [&files.signing_key, &files.jwks] {
        anyhow::ensure!(
            !path.exists(),
            "{} exists; remove it to make new keys (tokens signed by the old key stop verifying)",
            path.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;

    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let key = SigningKey::from_bytes(&secret);
    secret.fill(0);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("cannot encode the signing key: {e}"))?;
    crate::files::write_private(&files.signing_key, pem.as_bytes())?;

    let jwks = serde_json::json!({ "keys": [public_jwk(&key.verifying_key())?] });
    std::fs::write(&files.jwks, serde_json::to_string_pretty(&jwks)? + "\n")
        .with_context(|| format!("cannot write {}", files.jwks.display()))?;
    Ok(files)
}

/// The JWK of our public key, with its key id.
fn public_jwk(key: &VerifyingKey) -> anyhow::Result<Jwk> {
    let mut jwk = Jwk::from_decoding_key(
        &DecodingKey::from_ed_der(key.as_bytes()),
        Some(Algorithm::EdDSA),
    )?;
    jwk.common = CommonParameters {
        public_key_use: Some(PublicKeyUse::Signature),
        key_algorithm: Some(KeyAlgorithm::EdDSA),
        key_id: Some(key_id(&jwk)?),
        ..Default::default()
    };
    Ok(jwk)
}

/// A short, stable key id: the start of the key's RFC 7638 thumbprint.
fn key_id(jwk: &Jwk) -> anyhow::Result<String> {
    let thumbprint = jwk.thumbprint(ThumbprintHash::SHA256)?;
    Ok(thumbprint.chars().take(16).collect())
}

/// What yimen puts in the tokens it issues.
#[derive(Serialize)]
struct IssuedClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    iat: u64,
    exp: u64,
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dept: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    committee: Option<&'a str>,
}

/// What the verifier reads besides what `jsonwebtoken` validates (exp, nbf, iss, aud);
/// everything else in an identity provider's token is ignored.
#[derive(Deserialize)]
struct ReadClaims {
    sub: Option<String>,
    iat: Option<u64>,
    /// Required and checked by `jsonwebtoken`; read again to know how long a verified token
    /// may be taken from the cache.
    exp: Option<u64>,
    role: Option<String>,
    dept: Option<String>,
    committee: Option<String>,
}

/// Issues yimen's own tokens (EdDSA, its key id in the header).
pub struct Signer {
    key: EncodingKey,
    kid: String,
    issuer: String,
    audience: String,
}

impl Signer {
    /// The PKCS#8 PEM Ed25519 key at `path`; issuer and audience from `config`.
    pub fn from_file(path: &Path, config: &AuthConfig) -> anyhow::Result<Self> {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the signing key {}", path.display()))?;
        let key = SigningKey::from_pkcs8_pem(&pem).map_err(|_| {
            anyhow::anyhow!("{} is not a PKCS#8 PEM Ed25519 private key", path.display())
        })?;
        let der = key
            .to_pkcs8_der()
            .map_err(|e| anyhow::anyhow!("cannot encode the signing key: {e}"))?;
        Ok(Signer {
            key: EncodingKey::from_ed_der(der.as_bytes()),
            kid: key_id(&public_jwk(&key.verifying_key())?)?,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        })
    }

    /// A token for `principal`, valid from now for `ttl`.
    pub fn issue(&self, principal: &Principal, ttl: Duration) -> anyhow::Result<String> {
        principal.check_binding()?;
        let now = jsonwebtoken::get_current_timestamp();
        self.issue_at(principal, now, now.saturating_add(ttl.as_secs()))
    }

    /// A token with the given `iat` and `exp` (tests make tokens from the past and future).
    pub(crate) fn issue_at(
        &self,
        principal: &Principal,
        iat: u64,
        exp: u64,
    ) -> anyhow::Result<String> {
        self.sign(&IssuedClaims {
            iss: &self.issuer,
            aud: &self.audience,
            sub: &principal.subject,
            iat,
            exp,
            role: principal.role.as_str(),
            dept: principal.department.as_deref(),
            committee: principal.committee.as_deref(),
        })
    }

    /// Any claims, signed (tests make tokens the issuer would refuse to).
    pub(crate) fn sign(&self, claims: &impl Serialize) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.key)?)
    }

    /// The id of the key, as the JWKS names it.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

// Keys stay out of debug output; their ids are enough to tell them apart.
impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("kid", &self.kid).finish()
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("Verifier")
            .field("kids", &kids)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// One verification key of the JWKS.
struct Key {
    key: DecodingKey,
    validation: Validation,
}

/// Verifies tokens against the keys of a JWKS, chosen by the token's `kid`.
pub struct Verifier {
    keys: HashMap<String, Key>,
    issuer: String,
    audience: String,
    leeway: u64,
    /// Tokens verified already, by their SHA-256, with the caller each names and its expiry: a
    /// caller sends the same token with every call, and checking its signature again costs
    /// more than the rest of a read (about 45 µs for Ed25519).
    verified: Mutex<HashMap<[u8; 32], (Principal, u64)>>,
}

/// Verified tokens kept at most; past it the expired ones go, and if that is not enough, all.
const VERIFIED_KEPT: usize = 4096;

impl Verifier {
    pub fn from_jwks_file(path: &Path, config: &AuthConfig) -> anyhow::Result<Self> {
        let json = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the JWKS {}", path.display()))?;
        Self::from_jwks(&json, config).with_context(|| format!("JWKS {}", path.display()))
    }

    /// From JWKS JSON text. Encryption keys and keys of algorithms yimen does not accept are
    /// skipped (an identity provider's JWKS often has them); a set with no usable key fails.
    pub fn from_jwks(json: &str, config: &AuthConfig) -> anyhow::Result<Self> {
        #[derive(Deserialize)]
        struct Set {
            keys: Vec<serde_json::Value>,
        }
        let set: Set = serde_json::from_str(json).context("not a JWKS (`{\"keys\": [...]}`)")?;
        let mut keys = HashMap::new();
        for (i, value) in set.keys.into_iter().enumerate() {
            let jwk: Jwk =
                serde_json::from_value(value).with_context(|| format!("key #{i} is not a JWK"))?;
            if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
                continue;
            }
            let Some(alg) = algorithm(&jwk) else {
                tracing::warn!(key = i, kid = ?jwk.common.key_id, "JWKS key skipped: its algorithm is not one of EdDSA, RS256, ES256");
                continue;
            };
            let kid = jwk
                .common
                .key_id
                .clone()
                .with_context(|| format!("key #{i} has no `kid`"))?;
            let key = DecodingKey::from_jwk(&jwk)
                .map_err(|e| anyhow::anyhow!("key `{kid}` is not a usable {alg:?} key: {e}"))?;
            anyhow::ensure!(
                key.family() == alg.family(),
                "key `{kid}` is not a {alg:?} key"
            );
            let mut validation = Validation::new(alg);
            validation.set_issuer(&[&config.issuer]);
            validation.set_audience(&[&config.audience]);
            validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            validation.leeway = config.leeway_secs;
            validation.validate_nbf = true;
            anyhow::ensure!(
                keys.insert(kid.clone(), Key { key, validation }).is_none(),
                "two keys have the kid `{kid}`"
            );
        }
        anyhow::ensure!(
            !keys.is_empty(),
            "no signature key of EdDSA, RS256 or ES256 in it"
        );
        Ok(Verifier {
            keys,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            leeway: config.leeway_secs,
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// The caller the token names: issuer, audience, expiry (with the leeway) and the signature
    /// by the key its `kid` names are checked.
    /// A token verified before is taken from a cache until it expires.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        use sha2::{Digest, Sha256};
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = jsonwebtoken::get_current_timestamp();
        // Valid while `exp` is no further past than the leeway, as `jsonwebtoken` checks it.
        let fresh = |exp: u64| now <= exp.saturating_add(self.leeway);
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((principal, exp)) = verified.get(&digest)
            && fresh(*exp)
        {
            return Ok(principal.clone());
        }
        drop(verified);
        let (principal, exp) = self.verify_signed(token)?;
        verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_KEPT {
            verified.retain(|_, (_, exp)| fresh(*exp));
            if verified.len() >= VERIFIED_KEPT {
                verified.clear();
            }
        }
        verified.insert(digest, (principal.clone(), exp));
        Ok(principal)
    }

    /// [`Verifier::verify`] without the cache: the caller, and when its token expires.
    fn verify_signed(&self, token: &str) -> Result<(Principal, u64), AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| self.reason(e))?;
        let kid = header.kid.ok_or(AuthError::NoKeyId)?;
        let Some(key) = self.keys.get(&kid) else {
            // The kid comes from the caller: bounded, so a message cannot be made to carry much.
            return Err(AuthError::UnknownKeyId(kid.chars().take(64).collect()));
        };
        if !key.validation.algorithms.contains(&header.alg) {
            return Err(AuthError::WrongAlgorithm(kid));
        }
        let claims = jsonwebtoken::decode::<ReadClaims>(token, &key.key, &key.validation)
            .map_err(|e| self.reason(e))?
            .claims;
        let now = jsonwebtoken::get_current_timestamp();
        if claims
            .iat
            .is_some_and(|iat| iat > now.saturating_add(self.leeway))
        {
            return Err(AuthError::NotYetValid);
        }
        let subject = claims
            .sub
            .ok_or_else(|| AuthError::MissingClaim("sub".into()))?;
        let role = claims
            .role
            .ok_or_else(|| AuthError::MissingClaim("role".into()))?;
        let role = Role::ALL
            .into_iter()
            .find(|r| r.as_str() == role)
            .ok_or_else(|| AuthError::UnknownRole {
                role: role.chars().take(32).collect(),
                roles: super::join(Role::ALL.iter()),
            })?;
        let principal = Principal {
            subject,
            role,
            department: claims.dept,
            committee: claims.committee,
        };
        principal.check_binding()?;
        // Present once `jsonwebtoken` accepted the token; 0 would only keep it out of the cache.
        Ok((principal, claims.exp.unwrap_or(0)))
    }

    /// Why `jsonwebtoken` refused a token, in words that never quote it.
    fn reason(&self, error: jsonwebtoken::errors::Error) -> AuthError {
        match error.into_kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidAudience => AuthError::WrongAudience(self.audience.clone()),
            ErrorKind::InvalidIssuer => AuthError::WrongIssuer(self.issuer.clone()),
            ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(claim),
            ErrorKind::InvalidClaimFormat(_) => {
                AuthError::Malformed("a registered claim has the wrong type")
            }
            ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
                AuthError::Malformed("unexpected algorithm")
            }
            ErrorKind::Base64(_) => AuthError::Malformed("a part is not base64url"),
            ErrorKind::Json(_) => {
                AuthError::Malformed("header or claims are not the expected JSON")
            }
            ErrorKind::Utf8(_) => AuthError::Malformed("not UTF-8"),
            ErrorKind::InvalidToken => AuthError::Malformed("not a JWT (header.claims.signature)"),
            _ => AuthError::BadSignature,
        }
    }
}

/// The algorithm a JWK is for: its `alg`, else what its key type implies.
fn algorithm(jwk: &Jwk) -> Option<Algorithm> {
    let alg = match jwk.common.key_algorithm {
        Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(_) => return None,
        None => match &jwk.algorithm {
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                Algorithm::EdDSA
            }
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            _ => return None,
        },
    };
    ACCEPTED.contains(&alg).then_some(alg)
}
