//! Amounts as people read them. Money travels in fen (1/100 yuan) so no float touches it.

/// 5_400_000 fen → `54,000.00 yuan`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    let digits = (fen / 100).to_string();
    let mut whole = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            whole.push(',');
        }
        whole.push(digit);
    }
    format!("{sign}{whole}.{:02} yuan", fen % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fen_are_shown_as_yuan_with_thousands_separated() {
        assert_eq!(yuan(5_400_000), "54,000.00 yuan");
        assert_eq!(yuan(210_000_000), "2,100,000.00 yuan");
        assert_eq!(yuan(99_999), "999.99 yuan");
        assert_eq!(yuan(7), "0.07 yuan");
        assert_eq!(yuan(0), "0.00 yuan");
        assert_eq!(yuan(-123_450), "-1,234.50 yuan");
        assert_eq!(yuan(i64::MIN), "-92,233,720,368,547,758.08 yuan");
    }
}
