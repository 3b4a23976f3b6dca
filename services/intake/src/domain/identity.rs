//! A petitioner's identity at the door: the resident identity number (居民身份证号, GB 11643),
//! the phone number, and the keyed fingerprint that lets other services recognise a repeat
//! petitioner without ever seeing the number. These are personal data: their `Debug` never
//! shows the value, so a stray `{:?}` cannot leak one into a log.

use yimen_platform::seal::{Algorithm, KeyedHash};

/// An 18-character resident identity number whose check digit is right, uppercase (`X`).
#[derive(Clone, PartialEq, Eq)]
pub struct ResidentId(String);

/// GB 11643 weights of the first 17 digits; the weighted sum mod 11 picks the check character.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARACTERS: &[u8; 11] = b"10X98765432";

impl ResidentId {
    /// Accepts 17 digits and a check digit (or `x`/`X`), around whitespace; answers why not.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let id = raw.trim().to_ascii_uppercase();
        let bytes = id.as_bytes();
        if bytes.len() != 18 {
            return Err("an identity number has 18 characters");
        }
        let (body, check) = bytes.split_at(17);
        if !body.iter().all(u8::is_ascii_digit) || !(check[0].is_ascii_digit() || check[0] == b'X')
        {
            return Err("an identity number is 17 digits and a digit or X");
        }
        if check[0] != check_character(body) {
            return Err("the check digit of this identity number is wrong");
        }
        Ok(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Completes 17 digits with their check character (for fixtures and load); None when
    /// `body` is not 17 digits.
    pub fn complete(body: &str) -> Option<Self> {
        let bytes = body.as_bytes();
        (bytes.len() == 17 && bytes.iter().all(u8::is_ascii_digit)).then(|| {
            let check = char::from(check_character(bytes));
            Self(format!("{body}{check}"))
        })
    }
}

/// The GB 11643 check character of 17 ASCII digits.
fn check_character(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    CHECK_CHARACTERS[(sum % 11) as usize]
}

impl std::fmt::Debug for ResidentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResidentId(<redacted>)")
    }
}

/// A phone number: 7 to 20 characters of digits, an optional leading `+`, and single `-`
/// separators between digits (`+86-138-0000-0000`, `0724-4221234`).
#[derive(Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let phone = raw.trim();
        let length = phone.chars().count();
        if !(7..=20).contains(&length) {
            return Err("a phone number has 7 to 20 characters");
        }
        let digits = phone.strip_prefix('+').unwrap_or(phone);
        let well_formed = digits
            .split('-')
            .all(|group| !group.is_empty() && group.bytes().all(|b| b.is_ascii_digit()));
        if !well_formed {
            return Err("a phone number is digits, with an optional leading + and - separators");
        }
        Ok(Self(phone.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Phone(<redacted>)")
    }
}

/// Computes petitioner keys: the hex keyed hash of the identity number, so the same person
/// gives the same key on every case while the number itself never leaves intake.
#[derive(Clone, Debug)]
pub struct PetitionerKeyer {
    hash: KeyedHash,
}

impl PetitionerKeyer {
    /// Under the data key file's lookup key (HMAC-SHA256, or HMAC-SM3 with sm4-gcm).
    pub fn new(hash: KeyedHash) -> Self {
        Self { hash }
    }

    /// HMAC-SHA256 under `intake.petitioner_key`, as before the data key file existed: an
    /// installation that set it keeps matching its earlier cases.
    pub fn legacy(key: &str) -> Self {
        Self::new(KeyedHash::new(Algorithm::Aes256Gcm, key.as_bytes()))
    }

    pub fn key(&self, id: &ResidentId) -> String {
        self.hash.hex(id.as_str().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example number of GB 11643 itself.
    const VALID: &str = "11010519491231002X";

    #[test]
    fn completing_17_digits_gives_a_number_that_parses() {
        let id = ResidentId::complete("42088119700313766").expect("17 digits");
        assert_eq!(id.as_str(), "420881197003137662");
        assert_eq!(ResidentId::parse(id.as_str()), Ok(id));
        assert!(ResidentId::complete("4208811970031376").is_none());
        assert!(ResidentId::complete("4208811970031376X").is_none());
    }

    #[test]
    fn check_digit_follows_gb_11643() {
        assert_eq!(check_character(b"11010519491231002"), b'X');
        assert_eq!(check_character(b"44052418800101001"), b'4');
    }

    #[test]
    fn valid_identity_number_is_accepted() {
        assert_eq!(
            ResidentId::parse(VALID).map(|id| id.0),
            Ok(VALID.to_string())
        );
        assert!(ResidentId::parse("440524188001010014").is_ok());
    }

    #[test]
    fn lowercase_x_is_accepted_and_normalised_to_uppercase() {
        let id = ResidentId::parse(" 11010519491231002x ").expect("valid");
        assert_eq!(id.as_str(), VALID);
    }

    #[test]
    fn identity_number_with_wrong_check_digit_is_rejected() {
        assert!(ResidentId::parse("110105194912310021").is_err());
    }

    #[test]
    fn identity_number_of_wrong_length_is_rejected() {
        assert!(ResidentId::parse("11010519491231002").is_err());
        assert!(ResidentId::parse("11010519491231002X1").is_err());
    }

    #[test]
    fn identity_number_with_letters_in_the_body_is_rejected() {
        assert!(ResidentId::parse("1101051949123100AX").is_err());
    }

    #[test]
    fn identity_number_is_never_shown_by_debug() {
        let id = ResidentId::parse(VALID).expect("valid");
        assert!(!format!("{id:?}").contains("1101"));
    }

    #[test]
    fn phone_numbers_with_plus_and_separators_are_accepted() {
        for ok in [
            "13800000000",
            "+86-138-0000-0000",
            "0724-4221234",
            "1234567",
        ] {
            assert!(Phone::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn phone_numbers_shorter_than_seven_or_longer_than_twenty_are_rejected() {
        assert!(Phone::parse("123456").is_err());
        assert!(Phone::parse("+861380000000000000000").is_err());
    }

    #[test]
    fn phone_numbers_with_letters_or_stray_separators_are_rejected() {
        for bad in [
            "138OOOOOOOO",
            "138 0000 0000",
            "-13800000000",
            "138--00000000",
            "86+13800000",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn petitioner_key_is_hex_hmac_sha256_of_the_number() {
        let keyer = PetitionerKeyer::legacy("k");
        let id = ResidentId::parse(VALID).expect("valid");
        let key = keyer.key(&id);
        assert_eq!(key.len(), 64);
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            key,
            keyer.key(&ResidentId::parse("11010519491231002x").expect("valid"))
        );
        assert_ne!(key, PetitionerKeyer::legacy("other").key(&id));
        let sm3 = PetitionerKeyer::new(KeyedHash::new(Algorithm::Sm4Gcm, b"k"));
        assert_ne!(sm3.key(&id), key, "HMAC-SM3 under sm4-gcm");
    }
}
