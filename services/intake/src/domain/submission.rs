//! A submission checked at the door: `NewCase::parse` answers either a case that keeps every
//! intake rule or every broken rule at once, each naming its field, so a clerk fixes the form
//! in one go.

use yimen_platform::error::{Error, FieldViolation, Violations};
use yimen_platform::validate::{
    department_code, known, not_negative, optional_text, required_text, within,
};
use yimen_proto::v1::{Category, Channel, Person, SubmitCaseRequest};

use super::identity::{Phone, ResidentId};

/// More people than this on one case is a typing error, not a petition.
pub const MAX_HEADCOUNT: u32 = 100_000;
/// 5 or more people with a common matter is a collective petition (集体访) ...
pub const COLLECTIVE_HEADCOUNT: u32 = 5;
/// ... who choose at most five representatives (信访工作条例).
pub const MAX_REPRESENTATIVES: usize = 5;
const NAME_MAX: usize = 50;
const SUBJECT_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 20_000;
const PLACE_MAX: usize = 100;
const REQUEST_ID_MAX: usize = 100;
/// The longest statement of new facts about a matter closed for good, in characters.
pub const NEW_FACTS_MAX: usize = 2000;

/// Whether a headcount makes a collective petition (集体访).
pub fn is_collective(headcount: u32) -> bool {
    headcount >= COLLECTIVE_HEADCOUNT
}

/// A submission that keeps every intake rule. Only [`NewCase::parse`] makes one.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewCase {
    pub channel: Channel,
    pub headcount: u32,
    pub petitioners: Vec<Petitioner>,
    pub subject: String,
    pub description: String,
    pub category: Category,
    pub town: String,
    pub village: String,
    pub amount_claimed_fen: Option<i64>,
    /// The caller's idempotency key, when given.
    pub request_id: Option<String>,
    /// The department the matter complains about, when it names one.
    pub complained_about: Option<String>,
    /// 保密: the handling department too sees the petitioners only masked.
    pub confidential: bool,
    /// The new facts stated about a matter closed for good (不再受理 unless there are some).
    pub new_facts: Option<String>,
    /// 当场答复 / 当场调处: the reply given at the desk as it was registered.
    pub desk: Option<super::DeskReply>,
}

/// A person named on a case. `Debug` shows no personal data.
#[derive(Clone, PartialEq, Eq)]
pub struct Petitioner {
    pub name: String,
    pub id_number: Option<ResidentId>,
    pub phone: Option<Phone>,
}

impl std::fmt::Debug for Petitioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Petitioner(<redacted>)")
    }
}

impl NewCase {
    pub fn parse(request: &SubmitCaseRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let channel = v.check(channel(request.channel));
        let headcount = v.check(headcount(request.headcount));
        if let Some(headcount) = headcount {
            v.check(petitioner_count(request.petitioners.len(), headcount));
        } else if request.petitioners.is_empty() {
            v.check(petitioner_count(0, 1));
        }
        let petitioners: Vec<Option<Petitioner>> = request
            .petitioners
            .iter()
            .enumerate()
            .map(|(i, p)| petitioner(&mut v, i, p))
            .collect();
        let subject = v.check(required_text("subject", &request.subject, SUBJECT_MAX));
        let description = v.check(required_text(
            "description",
            &request.description,
            DESCRIPTION_MAX,
        ));
        let category = v.check(category(request.category));
        let location = request.location.clone().unwrap_or_default();
        let town = v.check(required_text("location.town", &location.town, PLACE_MAX));
        let village = v.check(optional_text(
            "location.village",
            &location.village,
            PLACE_MAX,
        ));
        let amount = v.check(amount(request.amount_claimed.map(|m| m.fen)));
        let request_id = v.check(optional_text(
            "request_id",
            &request.request_id,
            REQUEST_ID_MAX,
        ));
        let complained_about = v.check(optional(&request.complained_about, |raw| {
            department_code("complained_about", raw)
        }));
        let new_facts = v.check(optional_text(
            "new_facts",
            &request.new_facts,
            NEW_FACTS_MAX,
        ));
        let desk = v.check(super::DeskReply::parse(request.settled_at_desk.as_ref()));
        v.finish()?;
        // Every `None` above recorded a violation, so `finish` has already answered.
        let missing = || Error::Internal(anyhow::anyhow!("a checked field went missing"));
        Ok(Self {
            channel: channel.ok_or_else(missing)?,
            headcount: headcount.ok_or_else(missing)?,
            petitioners: petitioners
                .into_iter()
                .collect::<Option<Vec<_>>>()
                .ok_or_else(missing)?,
            subject: subject.ok_or_else(missing)?,
            description: description.ok_or_else(missing)?,
            category: category.ok_or_else(missing)?,
            town: town.ok_or_else(missing)?,
            village: village.ok_or_else(missing)?,
            amount_claimed_fen: amount.ok_or_else(missing)?,
            request_id: Some(request_id.ok_or_else(missing)?).filter(|r| !r.is_empty()),
            complained_about: complained_about.ok_or_else(missing)?,
            confidential: request.confidential,
            new_facts: Some(new_facts.ok_or_else(missing)?).filter(|f| !f.is_empty()),
            desk: desk.ok_or_else(missing)?,
        })
    }

    /// Five or more people: a collective petition (集体访).
    pub fn collective(&self) -> bool {
        is_collective(self.headcount)
    }
}

fn channel(value: i32) -> Result<Channel, FieldViolation> {
    known("channel", value)
}

fn category(value: i32) -> Result<Category, FieldViolation> {
    known("category", value)
}

fn headcount(value: u32) -> Result<u32, FieldViolation> {
    within("headcount", value, 1..=MAX_HEADCOUNT)
}

/// All the people when fewer than five came; at most five representatives of a collective.
fn petitioner_count(count: usize, headcount: u32) -> Result<(), FieldViolation> {
    let broken = if count == 0 {
        "name at least one petitioner".to_string()
    } else if is_collective(headcount) && count > MAX_REPRESENTATIVES {
        format!("a collective petition names at most {MAX_REPRESENTATIVES} representatives")
    } else if count > headcount as usize {
        format!("{count} petitioners named but the headcount is {headcount}")
    } else {
        return Ok(());
    };
    Err(FieldViolation::new("petitioners", broken))
}

/// Checks one petitioner, recording each bad field as `petitioners[i].<field>`.
fn petitioner(v: &mut Violations, i: usize, person: &Person) -> Option<Petitioner> {
    let name = v.check(required_text(
        &format!("petitioners[{i}].name"),
        &person.name,
        NAME_MAX,
    ));
    let id_number = v.check(
        optional(&person.id_number, ResidentId::parse)
            .map_err(|why| FieldViolation::new(format!("petitioners[{i}].id_number"), why)),
    );
    let phone = v.check(
        optional(&person.phone, Phone::parse)
            .map_err(|why| FieldViolation::new(format!("petitioners[{i}].phone"), why)),
    );
    Some(Petitioner {
        name: name?,
        id_number: id_number?,
        phone: phone?,
    })
}

fn optional<T, E>(raw: &str, parse: impl Fn(&str) -> Result<T, E>) -> Result<Option<T>, E> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        parse(raw).map(Some)
    }
}

fn amount(fen: Option<i64>) -> Result<Option<i64>, FieldViolation> {
    fen.map(|f| not_negative("amount_claimed.fen", f))
        .transpose()
}

#[cfg(test)]
mod tests {
    use yimen_proto::v1::{DeskSettlement, Location, Money};

    use super::*;

    fn person(name: &str) -> Person {
        Person {
            name: name.into(),
            id_number: "11010519491231002X".into(),
            phone: "13800000000".into(),
        }
    }

    fn valid() -> SubmitCaseRequest {
        SubmitCaseRequest {
            channel: Channel::Visit as i32,
            headcount: 1,
            petitioners: vec![person("王某")],
            subject: "subsistence allowance stopped".into(),
            description: "the allowance stopped in March".into(),
            category: Category::SocialAssistance as i32,
            location: Some(Location {
                town: "洋梓镇".into(),
                village: "龙王村".into(),
            }),
            amount_claimed: Some(Money { fen: 120_000 }),
            request_id: "desk-1-0001".into(),
            complained_about: String::new(),
            confidential: false,
            new_facts: String::new(),
            settled_at_desk: None,
        }
    }

    /// The fields named by the violations of `request`; empty when it is accepted.
    fn violations(request: SubmitCaseRequest) -> Vec<String> {
        match NewCase::parse(&request) {
            Ok(_) => vec![],
            Err(Error::InvalidArgument(v)) => v.into_iter().map(|v| v.field).collect(),
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    fn accepted(request: SubmitCaseRequest) -> NewCase {
        NewCase::parse(&request).expect("accepted")
    }

    #[test]
    fn valid_submission_is_accepted() {
        let case = accepted(valid());
        assert_eq!(case.channel, Channel::Visit);
        assert_eq!(case.petitioners.len(), 1);
        assert_eq!(case.request_id.as_deref(), Some("desk-1-0001"));
        assert!(!case.collective());
    }

    #[test]
    fn unspecified_channel_is_rejected() {
        assert_eq!(
            violations(SubmitCaseRequest {
                channel: 0,
                ..valid()
            }),
            ["channel"]
        );
    }

    #[test]
    fn unknown_channel_is_rejected() {
        assert_eq!(
            violations(SubmitCaseRequest {
                channel: 99,
                ..valid()
            }),
            ["channel"]
        );
    }

    #[test]
    fn every_known_channel_is_accepted() {
        for channel in 1..=6 {
            assert!(violations(SubmitCaseRequest { channel, ..valid() }).is_empty());
        }
    }

    #[test]
    fn headcount_of_zero_is_rejected() {
        assert_eq!(
            violations(SubmitCaseRequest {
                headcount: 0,
                ..valid()
            }),
            ["headcount"]
        );
    }

    #[test]
    fn headcount_over_one_hundred_thousand_is_rejected() {
        let r = SubmitCaseRequest {
            headcount: MAX_HEADCOUNT + 1,
            ..valid()
        };
        assert_eq!(violations(r), ["headcount"]);
        assert!(
            violations(SubmitCaseRequest {
                headcount: MAX_HEADCOUNT,
                ..valid()
            })
            .is_empty()
        );
    }

    #[test]
    fn submission_without_petitioners_is_rejected() {
        let r = SubmitCaseRequest {
            petitioners: vec![],
            ..valid()
        };
        assert_eq!(violations(r), ["petitioners"]);
    }

    #[test]
    fn submission_without_petitioners_is_rejected_even_with_a_bad_headcount() {
        let r = SubmitCaseRequest {
            headcount: 0,
            petitioners: vec![],
            ..valid()
        };
        assert_eq!(violations(r), ["headcount", "petitioners"]);
    }

    #[test]
    fn collective_petition_with_five_representatives_is_accepted() {
        let r = SubmitCaseRequest {
            headcount: 19,
            petitioners: vec![person("代表"); 5],
            ..valid()
        };
        assert!(accepted(r).collective());
    }

    #[test]
    fn collective_petition_with_six_representatives_is_rejected() {
        let r = SubmitCaseRequest {
            headcount: 19,
            petitioners: vec![person("代表"); 6],
            ..valid()
        };
        assert_eq!(violations(r), ["petitioners"]);
    }

    #[test]
    fn more_petitioners_than_the_headcount_is_rejected() {
        let r = SubmitCaseRequest {
            headcount: 2,
            petitioners: vec![person("甲"); 3],
            ..valid()
        };
        assert_eq!(violations(r), ["petitioners"]);
        let r = SubmitCaseRequest {
            headcount: 3,
            petitioners: vec![person("甲"); 3],
            ..valid()
        };
        assert!(violations(r).is_empty());
    }

    #[test]
    fn empty_petitioner_name_is_rejected_naming_its_position() {
        let r = SubmitCaseRequest {
            headcount: 2,
            petitioners: vec![person("甲"), person("  ")],
            ..valid()
        };
        assert_eq!(violations(r), ["petitioners[1].name"]);
    }

    #[test]
    fn petitioner_name_over_fifty_characters_is_rejected() {
        let r = SubmitCaseRequest {
            petitioners: vec![person(&"王".repeat(51))],
            ..valid()
        };
        assert_eq!(violations(r), ["petitioners[0].name"]);
        let r = SubmitCaseRequest {
            petitioners: vec![person(&"王".repeat(50))],
            ..valid()
        };
        assert!(violations(r).is_empty());
    }

    #[test]
    fn identity_number_is_optional() {
        let r = SubmitCaseRequest {
            petitioners: vec![Person {
                id_number: String::new(),
                ..person("甲")
            }],
            ..valid()
        };
        assert_eq!(accepted(r).petitioners[0].id_number, None);
    }

    #[test]
    fn identity_number_with_a_bad_check_digit_is_rejected() {
        let r = SubmitCaseRequest {
            petitioners: vec![Person {
                id_number: "110105194912310021".into(),
                ..person("甲")
            }],
            ..valid()
        };
        assert_eq!(violations(r), ["petitioners[0].id_number"]);
    }

    #[test]
    fn phone_is_optional() {
        let r = SubmitCaseRequest {
            petitioners: vec![Person {
                phone: String::new(),
                ..person("甲")
            }],
            ..valid()
        };
        assert_eq!(accepted(r).petitioners[0].phone, None);
    }

    #[test]
    fn malformed_phone_is_rejected() {
        let r = SubmitCaseRequest {
            petitioners: vec![Person {
                phone: "call me".into(),
                ..person("甲")
            }],
            ..valid()
        };
        assert_eq!(violations(r), ["petitioners[0].phone"]);
    }

    #[test]
    fn empty_subject_is_rejected() {
        assert_eq!(
            violations(SubmitCaseRequest {
                subject: " ".into(),
                ..valid()
            }),
            ["subject"]
        );
    }

    #[test]
    fn subject_over_two_hundred_characters_is_rejected() {
        let r = SubmitCaseRequest {
            subject: "x".repeat(201),
            ..valid()
        };
        assert_eq!(violations(r), ["subject"]);
        assert!(
            violations(SubmitCaseRequest {
                subject: "x".repeat(200),
                ..valid()
            })
            .is_empty()
        );
    }

    #[test]
    fn empty_description_is_rejected() {
        let r = SubmitCaseRequest {
            description: String::new(),
            ..valid()
        };
        assert_eq!(violations(r), ["description"]);
    }

    #[test]
    fn description_over_twenty_thousand_characters_is_rejected() {
        let r = SubmitCaseRequest {
            description: "字".repeat(20_001),
            ..valid()
        };
        assert_eq!(violations(r), ["description"]);
        let r = SubmitCaseRequest {
            description: "字".repeat(20_000),
            ..valid()
        };
        assert!(violations(r).is_empty());
    }

    #[test]
    fn unspecified_category_is_rejected() {
        assert_eq!(
            violations(SubmitCaseRequest {
                category: 0,
                ..valid()
            }),
            ["category"]
        );
    }

    #[test]
    fn unknown_category_is_rejected() {
        assert_eq!(
            violations(SubmitCaseRequest {
                category: 99,
                ..valid()
            }),
            ["category"]
        );
    }

    #[test]
    fn missing_town_is_rejected() {
        assert_eq!(
            violations(SubmitCaseRequest {
                location: None,
                ..valid()
            }),
            ["location.town"]
        );
    }

    #[test]
    fn town_over_one_hundred_characters_is_rejected() {
        let r = SubmitCaseRequest {
            location: Some(Location {
                town: "镇".repeat(101),
                village: String::new(),
            }),
            ..valid()
        };
        assert_eq!(violations(r), ["location.town"]);
    }

    #[test]
    fn village_is_optional_but_at_most_one_hundred_characters() {
        let r = SubmitCaseRequest {
            location: Some(Location {
                town: "洋梓镇".into(),
                village: String::new(),
            }),
            ..valid()
        };
        assert!(violations(r).is_empty());
        let r = SubmitCaseRequest {
            location: Some(Location {
                town: "洋梓镇".into(),
                village: "村".repeat(101),
            }),
            ..valid()
        };
        assert_eq!(violations(r), ["location.village"]);
    }

    #[test]
    fn negative_amount_claimed_is_rejected() {
        let r = SubmitCaseRequest {
            amount_claimed: Some(Money { fen: -1 }),
            ..valid()
        };
        assert_eq!(violations(r), ["amount_claimed.fen"]);
    }

    #[test]
    fn amount_claimed_is_optional_and_may_be_zero() {
        let r = SubmitCaseRequest {
            amount_claimed: None,
            ..valid()
        };
        assert_eq!(accepted(r).amount_claimed_fen, None);
        let r = SubmitCaseRequest {
            amount_claimed: Some(Money { fen: 0 }),
            ..valid()
        };
        assert_eq!(accepted(r).amount_claimed_fen, Some(0));
    }

    #[test]
    fn request_id_over_one_hundred_characters_is_rejected() {
        let r = SubmitCaseRequest {
            request_id: "r".repeat(101),
            ..valid()
        };
        assert_eq!(violations(r), ["request_id"]);
    }

    #[test]
    fn empty_request_id_means_no_idempotency_key() {
        let r = SubmitCaseRequest {
            request_id: "  ".into(),
            ..valid()
        };
        assert_eq!(accepted(r).request_id, None);
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let r = SubmitCaseRequest {
            channel: 99,
            headcount: 0,
            petitioners: vec![Person {
                name: String::new(),
                id_number: "1".into(),
                phone: "x".into(),
            }],
            subject: String::new(),
            description: String::new(),
            category: 0,
            location: None,
            amount_claimed: Some(Money { fen: -5 }),
            request_id: "r".repeat(101),
            complained_about: "Bad Code".into(),
            confidential: false,
            new_facts: String::new(),
            settled_at_desk: Some(DeskSettlement {
                reply: " ".into(),
                mediated: true,
            }),
        };
        assert_eq!(
            violations(r),
            [
                "channel",
                "headcount",
                "petitioners[0].name",
                "petitioners[0].id_number",
                "petitioners[0].phone",
                "subject",
                "description",
                "category",
                "location.town",
                "amount_claimed.fen",
                "request_id",
                "complained_about",
                "settled_at_desk.reply",
            ]
        );
    }

    #[test]
    fn a_settlement_at_the_desk_keeps_its_reply() {
        assert_eq!(accepted(valid()).desk, None);
        let settled = accepted(SubmitCaseRequest {
            settled_at_desk: Some(DeskSettlement {
                reply: " the rules were explained ".into(),
                mediated: false,
            }),
            ..valid()
        });
        assert_eq!(
            settled.desk,
            Some(crate::domain::DeskReply {
                reply: "the rules were explained".into(),
                mediated: false,
            })
        );
    }

    #[test]
    fn a_complained_about_department_is_optional_and_kept_with_confidentiality() {
        assert_eq!(accepted(valid()).complained_about, None);
        assert!(!accepted(valid()).confidential);
        let r = SubmitCaseRequest {
            complained_about: " civil-affairs ".into(),
            confidential: true,
            ..valid()
        };
        let case = accepted(r);
        assert_eq!(case.complained_about.as_deref(), Some("civil-affairs"));
        assert!(case.confidential);
    }

    #[test]
    fn a_complained_about_department_must_be_a_department_code() {
        for bad in ["民政局", "Civil", "x", "civil affairs"] {
            let r = SubmitCaseRequest {
                complained_about: bad.into(),
                ..valid()
            };
            assert_eq!(violations(r), ["complained_about"], "{bad}");
        }
    }

    #[test]
    fn text_is_trimmed() {
        let r = SubmitCaseRequest {
            subject: "  bus route cut  ".into(),
            ..valid()
        };
        assert_eq!(accepted(r).subject, "bus route cut");
    }

    #[test]
    fn petitioners_are_never_shown_by_debug() {
        let case = accepted(valid());
        let shown = format!("{case:?}");
        assert!(!shown.contains("王某") && !shown.contains("1101") && !shown.contains("138"));
    }

    #[test]
    fn new_facts_are_optional_trimmed_and_bounded() {
        let mut r = valid();
        assert_eq!(NewCase::parse(&r).unwrap().new_facts, None);
        r.new_facts = " 2026年新增收费项目 ".into();
        assert_eq!(
            NewCase::parse(&r).unwrap().new_facts.as_deref(),
            Some("2026年新增收费项目")
        );
        r.new_facts = "实".repeat(NEW_FACTS_MAX + 1);
        match NewCase::parse(&r) {
            Err(Error::InvalidArgument(v)) => assert_eq!(v[0].field, "new_facts"),
            other => panic!("{other:?}"),
        }
    }
}
