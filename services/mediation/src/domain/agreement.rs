//! A mediation agreement (调解协议): who pays whom how much, on what terms, and optionally in
//! installments — as the grain-money case was repaid over three years.

use yimen_platform::error::{FieldViolation, Violations};
use yimen_platform::time::timestamp;
use yimen_platform::validate;
use yimen_proto::v1 as pb;

pub const PARTY_MAX: usize = 200;
pub const TERMS_MAX: usize = 2000;

/// A checked agreement. Only [`Agreement::parse`] (or the store) makes one. The parties may be
/// people, so `Debug` shows only the money.
#[derive(Clone, PartialEq, Eq)]
pub struct Agreement {
    /// The total, in fen; 0 for an agreement without money.
    pub amount_fen: i64,
    pub payer: String,
    pub payee: String,
    pub terms: String,
    /// Due dates strictly ascending; their amounts sum to `amount_fen`. Empty: paid at once.
    pub installments: Vec<Installment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installment {
    /// Unix millis.
    pub due: i64,
    pub amount_fen: i64,
}

impl std::fmt::Debug for Agreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agreement")
            .field("amount_fen", &self.amount_fen)
            .field("installments", &self.installments)
            .finish_non_exhaustive()
    }
}

impl Agreement {
    /// Checks every rule of an agreement, recording each broken one under `<prefix>.<field>`
    /// (`agreement.installments[2].due`); the agreement when none is broken.
    pub fn parse(
        agreement: &pb::Agreement,
        prefix: &str,
        violations: &mut Violations,
    ) -> Option<Self> {
        // Collected here first, so this agreement's own verdict is known.
        let mut bad: Vec<FieldViolation> = Vec::new();
        let field = |name: &str| format!("{prefix}.{name}");
        // An agreement without money (an apology, a visiting arrangement) may leave it out.
        let amount_fen = agreement.amount.as_ref().map_or(0, |m| m.fen);
        if let Err(v) = validate::not_negative(&field("amount"), amount_fen) {
            bad.push(v);
        }
        let mut text = |name: &str, value: &str, max: usize| {
            validate::required_text(&field(name), value, max)
                .map_err(|v| bad.push(v))
                .unwrap_or_default()
        };
        let payer = text("payer", &agreement.payer, PARTY_MAX);
        let payee = text("payee", &agreement.payee, PARTY_MAX);
        let terms = text("terms", &agreement.terms, TERMS_MAX);

        let mut installments = Vec::with_capacity(agreement.installments.len());
        let mut sum: i128 = 0;
        for (i, installment) in agreement.installments.iter().enumerate() {
            let at = |name: &str| field(&format!("installments[{i}].{name}"));
            let fen = installment.amount.as_ref().map_or(0, |m| m.fen);
            if let Err(v) = validate::positive(&at("amount"), fen) {
                bad.push(v);
            }
            sum += i128::from(fen);
            match validate::time(&at("due"), installment.due.as_ref()) {
                Err(v) => bad.push(v),
                Ok(due) => {
                    if let Some(previous) = installments.last().map(|p: &Installment| p.due)
                        && due <= previous
                    {
                        bad.push(FieldViolation::new(
                            at("due"),
                            format!("must be after installments[{}].due", i - 1),
                        ));
                    }
                    installments.push(Installment {
                        due,
                        amount_fen: fen,
                    });
                }
            }
        }
        if !agreement.installments.is_empty() && sum != i128::from(amount_fen) {
            bad.push(FieldViolation::new(
                field("installments"),
                format!("sum to {sum} fen, not the agreement's amount of {amount_fen} fen"),
            ));
        }

        let valid = bad.is_empty();
        for v in bad {
            violations.add(v.field, v.description);
        }
        valid.then_some(Self {
            amount_fen,
            payer,
            payee,
            terms,
            installments,
        })
    }

    pub fn to_proto(&self) -> pb::Agreement {
        pb::Agreement {
            amount: Some(pb::Money {
                fen: self.amount_fen,
            }),
            payer: self.payer.clone(),
            payee: self.payee.clone(),
            terms: self.terms.clone(),
            installments: self
                .installments
                .iter()
                .map(|i| pb::Installment {
                    due: Some(timestamp(i.due)),
                    amount: Some(pb::Money { fen: i.amount_fen }),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yimen_platform::error::Error;

    const DAY: i64 = 86_400_000;
    const JAN_2026: i64 = 1_767_225_600_000;

    fn money(fen: i64) -> Option<pb::Money> {
        Some(pb::Money { fen })
    }

    fn installment(due: i64, fen: i64) -> pb::Installment {
        pb::Installment {
            due: Some(timestamp(due)),
            amount: money(fen),
        }
    }

    /// The grain money: 2.1 million yuan over three yearly installments.
    fn grain_money() -> pb::Agreement {
        pb::Agreement {
            amount: money(210_000_000),
            payer: "米厂业主".into(),
            payee: "74户种粮农户".into(),
            terms: "分三年偿还粮款".into(),
            installments: vec![
                installment(JAN_2026, 70_000_000),
                installment(JAN_2026 + 365 * DAY, 70_000_000),
                installment(JAN_2026 + 730 * DAY, 70_000_000),
            ],
        }
    }

    fn parse(agreement: &pb::Agreement) -> Result<Agreement, Vec<String>> {
        let mut v = Violations::new();
        let parsed = Agreement::parse(agreement, "agreement", &mut v);
        match v.finish() {
            Ok(()) => Ok(parsed.expect("an agreement when nothing is broken")),
            Err(Error::InvalidArgument(v)) => Err(v.into_iter().map(|v| v.field).collect()),
            Err(e) => panic!("unexpected {e}"),
        }
    }

    #[test]
    fn installments_summing_to_the_amount_are_accepted() {
        let agreement = parse(&grain_money()).expect("valid");
        assert_eq!(agreement.amount_fen, 210_000_000);
        assert_eq!(agreement.installments.len(), 3);
        assert_eq!(agreement.to_proto(), grain_money());
    }

    #[test]
    fn agreement_paid_at_once_needs_no_installments() {
        let mut a = grain_money();
        a.installments.clear();
        assert!(parse(&a).is_ok());
    }

    #[test]
    fn agreement_without_money_is_accepted_as_zero() {
        let mut a = grain_money();
        a.amount = None;
        a.installments.clear();
        assert_eq!(parse(&a).expect("valid").amount_fen, 0);
    }

    #[test]
    fn negative_amount_is_rejected() {
        let mut a = grain_money();
        a.amount = money(-1);
        a.installments.clear();
        assert_eq!(parse(&a).unwrap_err(), ["agreement.amount"]);
    }

    #[test]
    fn empty_parties_and_terms_are_rejected() {
        let mut a = grain_money();
        a.payer = " ".into();
        a.payee = String::new();
        a.terms = String::new();
        assert_eq!(
            parse(&a).unwrap_err(),
            ["agreement.payer", "agreement.payee", "agreement.terms"]
        );
    }

    #[test]
    fn over_long_parties_and_terms_are_rejected() {
        let mut a = grain_money();
        a.payer = "甲".repeat(PARTY_MAX + 1);
        a.terms = "条".repeat(TERMS_MAX + 1);
        assert_eq!(
            parse(&a).unwrap_err(),
            ["agreement.payer", "agreement.terms"]
        );
        a.payer = "甲".repeat(PARTY_MAX);
        a.terms = "条".repeat(TERMS_MAX);
        assert!(parse(&a).is_ok());
    }

    #[test]
    fn installment_sum_mismatch_names_the_installments() {
        let mut a = grain_money();
        a.installments[2].amount = money(69_999_999);
        assert_eq!(parse(&a).unwrap_err(), ["agreement.installments"]);
    }

    #[test]
    fn installment_without_a_positive_amount_is_rejected() {
        let mut a = grain_money();
        a.installments[1].amount = money(0);
        a.installments[2].amount = money(140_000_000);
        assert_eq!(parse(&a).unwrap_err(), ["agreement.installments[1].amount"]);
        a.installments[1].amount = None;
        assert_eq!(parse(&a).unwrap_err(), ["agreement.installments[1].amount"]);
    }

    #[test]
    fn due_dates_must_ascend_strictly() {
        let mut a = grain_money();
        a.installments[2].due = a.installments[1].due;
        assert_eq!(parse(&a).unwrap_err(), ["agreement.installments[2].due"]);
        a.installments[2].due = Some(timestamp(JAN_2026 - DAY));
        assert_eq!(parse(&a).unwrap_err(), ["agreement.installments[2].due"]);
    }

    #[test]
    fn installment_without_a_due_date_is_rejected() {
        let mut a = grain_money();
        a.installments[0].due = None;
        assert_eq!(parse(&a).unwrap_err(), ["agreement.installments[0].due"]);
    }

    #[test]
    fn every_broken_rule_is_named_at_once() {
        let a = pb::Agreement {
            amount: money(100),
            payer: String::new(),
            payee: "乙".into(),
            terms: "条款".into(),
            installments: vec![installment(JAN_2026, 0), installment(JAN_2026, 50)],
        };
        assert_eq!(
            parse(&a).unwrap_err(),
            [
                "agreement.payer",
                "agreement.installments[0].amount",
                "agreement.installments[1].due",
                "agreement.installments",
            ]
        );
    }

    #[test]
    fn debug_does_not_show_the_parties() {
        let agreement = parse(&grain_money()).unwrap();
        let shown = format!("{agreement:?}");
        assert!(
            !shown.contains("米厂业主") && !shown.contains("74户"),
            "{shown}"
        );
    }
}
