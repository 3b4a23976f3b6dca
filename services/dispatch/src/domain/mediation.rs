//! A case's way through the mediation center (一访三对接): how it is referred, and what the
//! outcome of a mediation does to the assignment that holds the case.

use yimen_platform::error::FieldViolation;
use yimen_proto::v1::{self as pb, Linkage, MediationState};

use super::assignment::REPLY_MAX;
use yimen_platform::money::yuan;
use yimen_platform::validate;

pub const SUMMARY_MAX: usize = 500;

/// How a referral reaches mediation; a petition (访调) unless the department says otherwise.
pub fn parse_linkage(value: i32) -> Result<Linkage, FieldViolation> {
    Ok(validate::known_or_any("linkage", value)?.unwrap_or(Linkage::Petition))
}

/// What a concluded mediation means for the case's open assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An agreement: it is the reply to the petitioner.
    Agreed,
    /// Failed or withdrawn: the department goes on handling the case.
    Ended,
}

impl Outcome {
    /// `None` for states that do not conclude a mediation.
    pub fn of(state: i32) -> Option<Self> {
        match MediationState::try_from(state).ok()? {
            MediationState::Agreed => Some(Self::Agreed),
            MediationState::Failed | MediationState::Withdrawn => Some(Self::Ended),
            MediationState::Unspecified | MediationState::Open | MediationState::CourtConfirmed => {
                None
            }
        }
    }
}

/// The reply an agreement gives: `mediation agreement at the <committee> committee: 54,000.00
/// yuan, <terms>`, cut to the longest reply allowed.
pub fn agreement_reply(committee: &str, agreement: &pb::Agreement) -> String {
    let committee = committee.trim();
    let mut reply = if committee.is_empty() {
        "mediation agreement".to_string()
    } else {
        format!("mediation agreement at the {committee} committee")
    };
    let terms = agreement.terms.trim();
    let parts: Vec<String> = agreement
        .amount
        .as_ref()
        .map(|m| yuan(m.fen))
        .into_iter()
        .chain((!terms.is_empty()).then(|| terms.to_string()))
        .collect();
    if !parts.is_empty() {
        reply.push_str(": ");
        reply.push_str(&parts.join(", "));
    }
    reply.chars().take(REPLY_MAX).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreement(fen: Option<i64>, terms: &str) -> pb::Agreement {
        pb::Agreement {
            amount: fen.map(|fen| pb::Money { fen }),
            terms: terms.into(),
            ..Default::default()
        }
    }

    #[test]
    fn unspecified_linkage_is_a_petition_referral() {
        assert_eq!(parse_linkage(0).unwrap(), Linkage::Petition);
        assert_eq!(
            parse_linkage(Linkage::Court as i32).unwrap(),
            Linkage::Court
        );
        assert_eq!(parse_linkage(42).unwrap_err().field, "linkage");
    }

    #[test]
    fn agreed_replies_failed_and_withdrawn_end_the_mediation() {
        assert_eq!(
            Outcome::of(MediationState::Agreed as i32),
            Some(Outcome::Agreed)
        );
        assert_eq!(
            Outcome::of(MediationState::Failed as i32),
            Some(Outcome::Ended)
        );
        assert_eq!(
            Outcome::of(MediationState::Withdrawn as i32),
            Some(Outcome::Ended)
        );
        assert_eq!(Outcome::of(MediationState::Open as i32), None);
        assert_eq!(Outcome::of(77), None);
    }

    #[test]
    fn agreement_reply_names_committee_amount_and_terms() {
        assert_eq!(
            agreement_reply(
                "civil-commercial",
                &agreement(Some(5_400_000), "paid by the two companies within one day")
            ),
            "mediation agreement at the civil-commercial committee: 54,000.00 yuan, \
             paid by the two companies within one day"
        );
        assert_eq!(
            agreement_reply("labour", &agreement(None, "back to work on Monday")),
            "mediation agreement at the labour committee: back to work on Monday"
        );
        assert_eq!(
            agreement_reply("labour", &agreement(Some(100), " ")),
            "mediation agreement at the labour committee: 1.00 yuan"
        );
    }

    #[test]
    fn agreement_reply_fits_a_reply() {
        let long = agreement(Some(1), &"款".repeat(REPLY_MAX));
        assert_eq!(
            agreement_reply("civil-commercial", &long).chars().count(),
            REPLY_MAX
        );
    }
}
