//! Amounts as people read them, written once for every service and the CLI: fen (1/100 yuan,
//! as every amount travels, so no float touches it) to `54,000.00 yuan`.

/// `5_400_000` fen → `54,000.00 yuan`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    let whole = (fen / 100).to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped}.{:02} yuan", fen % 100)
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
}
