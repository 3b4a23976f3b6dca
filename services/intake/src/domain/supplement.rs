//! The material a department asked for (补充材料), added by reception for the petitioner: what a
//! valid one is and which case takes one. Its text may hold personal data, so it stays in
//! intake's store; `case.supplemented` only says that it came.

use yimen_platform::error::{Error, Violations};
use yimen_platform::validate;
use yimen_proto::v1::{AddSupplementRequest, CaseStatus};

use super::CaseRef;
use super::progress;

/// The longest supplement kept, in characters.
pub const TEXT_MAX: usize = 5000;

/// A checked AddSupplement request. `Debug` leaves the text out.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Supplement {
    pub case_ref: CaseRef,
    /// Trimmed, not empty.
    pub text: String,
}

impl std::fmt::Debug for Supplement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supplement")
            .field("case_ref", &self.case_ref)
            .field("text", &"<redacted>")
            .finish()
    }
}

impl Supplement {
    /// Every broken field at once.
    pub fn parse(request: &AddSupplementRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let case_ref = v.check(CaseRef::parse(&request.case_ref));
        let text = v.check(validate::required_text("text", &request.text, TEXT_MAX));
        v.finish_with(
            case_ref
                .zip(text)
                .map(|(case_ref, text)| Self { case_ref, text }),
        )
    }
}

/// Only a case whose department waits for material takes a supplement.
pub fn check_awaited(case_number: &str, status: CaseStatus) -> Result<(), Error> {
    if status == CaseStatus::AwaitingSupplement {
        return Ok(());
    }
    Err(Error::precondition(format!(
        "case {case_number} is {}; only a case awaiting supplement takes one",
        progress::status_words(status)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_supplement_names_every_broken_field_and_keeps_its_text_out_of_debug() {
        let e = Supplement::parse(&AddSupplementRequest {
            case_ref: String::new(),
            text: "x".repeat(TEXT_MAX + 1),
        })
        .unwrap_err();
        match e {
            Error::InvalidArgument(v) => {
                let fields: Vec<_> = v.iter().map(|f| f.field.as_str()).collect();
                assert_eq!(fields, ["case_ref", "text"]);
            }
            other => panic!("{other:?}"),
        }
        let ok = Supplement::parse(&AddSupplementRequest {
            case_ref: "YM-2026-000001".into(),
            text: " 工资欠条复印件，电话13900001111 ".into(),
        })
        .unwrap();
        assert_eq!(ok.text, "工资欠条复印件，电话13900001111");
        assert!(!format!("{ok:?}").contains("1390000"));
    }

    #[test]
    fn only_a_case_awaiting_supplement_takes_one() {
        assert!(check_awaited("YM-2026-000001", CaseStatus::AwaitingSupplement).is_ok());
        for status in [
            CaseStatus::Assigned,
            CaseStatus::Accepted,
            CaseStatus::Refused,
        ] {
            match check_awaited("YM-2026-000001", status) {
                Err(Error::FailedPrecondition(m)) => {
                    assert!(m.contains(&progress::status_words(status)), "{m}")
                }
                other => panic!("{status:?}: {other:?}"),
            }
        }
    }
}
