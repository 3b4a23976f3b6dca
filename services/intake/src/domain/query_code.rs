//! The query code (查询码) a petitioner keeps to follow a case without a token: random, from an
//! alphabet without look-alikes (no 0/O, 1/I/L), so it can be read out at a window and typed
//! back. Only its SHA-256 is stored; the code is answered once, at registration.

use sha2::{Digest, Sha256};
use yimen_platform::error::Error;

/// 31 symbols, none easily confused with another.
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// 12 symbols of 31: about 59 bits, far past guessing at a rate-limited door.
pub const LENGTH: usize = 12;

/// A new code from the operating system's CSPRNG. Rejection sampling keeps every symbol
/// equally likely.
pub fn generate() -> Result<String, Error> {
    let limit = 256 - 256 % ALPHABET.len(); // 248: bytes at or past it would favour some symbols
    let mut code = String::with_capacity(LENGTH);
    let mut buf = [0u8; 32];
    while code.len() < LENGTH {
        getrandom::fill(&mut buf)
            .map_err(|e| Error::Internal(anyhow::anyhow!("no randomness: {e}")))?;
        for b in buf {
            if code.len() < LENGTH && usize::from(b) < limit {
                code.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    Ok(code)
}

/// The stored form of a code: hex SHA-256 of it as typed back, forgiving case, spaces and
/// dashes. An empty code hashes to '' which no stored hash equals.
pub fn hash(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if normal.is_empty() {
        return String::new();
    }
    hex::encode(Sha256::digest(normal.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_twelve_unambiguous_symbols_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), LENGTH);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn the_hash_forgives_case_spaces_and_dashes_but_not_other_symbols() {
        assert_eq!(hash("ABCD-EFGH 2345"), hash("abcdefgh2345"));
        assert_ne!(hash("ABCDEFGH2345"), hash("ABCDEFGH2346"));
        assert_eq!(hash(""), "");
        assert_eq!(hash(" - "), "");
        assert_eq!(hash("X").len(), 64);
    }
}
