//! Amounts as people read and write them, written once for every service and the CLI: fen
//! (1/100 yuan, as every amount travels, so no float touches it) to and from yuan.

/// `5_400_000` fen → `54,000.00 yuan`.
pub fn yuan(fen: i64) -> String {
    let (sign, whole, cents) = parts(fen);
    let whole = whole.to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped}.{cents:02} yuan")
}

/// `5_400_000` fen → `54000.00`: the plain decimal that scripts read and [`parse_yuan`] takes.
pub fn decimal(fen: i64) -> String {
    let (sign, whole, cents) = parts(fen);
    format!("{sign}{whole}.{cents:02}")
}

/// The sign, whole yuan and fen of an amount; the sign is kept apart so that amounts between
/// −1 and 0 yuan (whose whole part is 0) keep it.
fn parts(fen: i64) -> (&'static str, u64, u64) {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    (sign, fen / 100, fen % 100)
}

/// An amount that is not written like `1200`, `1200.5`, `1200.50` or `-0.50`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("amount `{0}` is not a yuan amount like 1200 or 1200.50")]
pub struct NotYuan(pub String);

/// `1234.56` yuan → `123_456` fen, exactly: at most two decimals, an optional minus sign, no
/// grouping; out of range is an error, never a wrapped amount.
pub fn parse_yuan(text: &str) -> Result<i64, NotYuan> {
    let bad = || NotYuan(text.to_string());
    let trimmed = text.trim();
    let (negative, unsigned) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let (whole, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || frac.len() > 2 || !digits(whole) || !digits(frac) {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    let fen = whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(bad)?;
    Ok(if negative { -fen } else { fen })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped_and_fen_are_two_decimals() {
        assert_eq!(yuan(5_400_000), "54,000.00 yuan");
        assert_eq!(yuan(21_000_000_005), "210,000,000.05 yuan");
        assert_eq!(yuan(100_000), "1,000.00 yuan");
    }

    #[test]
    fn small_zero_and_negative_amounts() {
        assert_eq!(yuan(0), "0.00 yuan");
        assert_eq!(yuan(7), "0.07 yuan");
        assert_eq!(yuan(99_950), "999.50 yuan");
        assert_eq!(yuan(-1_234_567), "-12,345.67 yuan");
        assert_eq!(yuan(i64::MIN), "-92,233,720,368,547,758.08 yuan");
    }

    #[test]
    fn amounts_between_minus_one_and_zero_yuan_keep_their_sign() {
        assert_eq!(yuan(-50), "-0.50 yuan");
        assert_eq!(decimal(-50), "-0.50");
        assert_eq!(decimal(-7), "-0.07");
        assert_eq!(decimal(-100), "-1.00");
    }

    #[test]
    fn decimals_are_ungrouped_with_two_places() {
        assert_eq!(decimal(5_400_000), "54000.00");
        assert_eq!(decimal(0), "0.00");
        assert_eq!(decimal(120_050), "1200.50");
    }

    #[test]
    fn yuan_amounts_parse_exactly_to_fen() {
        assert_eq!(parse_yuan("54000"), Ok(5_400_000));
        assert_eq!(parse_yuan("12.5"), Ok(1250));
        assert_eq!(parse_yuan("0.07"), Ok(7));
        assert_eq!(parse_yuan(" 1200.50 "), Ok(120_050));
        assert_eq!(parse_yuan("-0.50"), Ok(-50));
        assert_eq!(parse_yuan("-12"), Ok(-1200));
    }

    #[test]
    fn what_is_not_a_yuan_amount_is_refused() {
        for text in [
            "",
            "abc",
            "1.234",
            ".5",
            "-",
            "1,000",
            "+5",
            "1.-5",
            "1e3",
            "--1",
            "92233720368547758.08",
        ] {
            assert_eq!(parse_yuan(text), Err(NotYuan(text.into())), "{text:?}");
        }
    }

    #[test]
    fn decimal_and_parse_round_trip() {
        for fen in [0, 7, -7, -50, 120_050, -5_400_000, i64::MAX] {
            assert_eq!(parse_yuan(&decimal(fen)), Ok(fen));
        }
    }
}
