//! How much of the petitioners' identity (names, ID numbers, phones) a caller is shown on a
//! case, and the masked forms of each. A petitioner's identity never reaches the department
//! the matter complains about (信访工作条例), nor roles that only count or check cases.

use yimen_platform::auth::{Principal, Role};
use yimen_proto::v1::{Case, Person};

/// What a caller sees of the people named on one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disclosure {
    /// Names, ID numbers and phones as registered.
    Full,
    /// Each reduced to a few characters (王*, 420881**********34, 139****2222).
    Masked,
}

impl Disclosure {
    /// What `caller` sees of `case`'s petitioners. Reception, supervisors and admins see them
    /// in full, and so does the department holding the case unless the case complains about it
    /// or is confidential; everyone else only masked. A call with no caller was made
    /// in-process (every server runs the auth layer) and sees them in full.
    pub fn to(caller: Option<&Principal>, case: &Case) -> Self {
        let Some(caller) = caller else {
            return Self::Full;
        };
        let full = match caller.role {
            Role::Reception | Role::Supervisor | Role::Admin => true,
            Role::Department => caller.department.as_deref().is_some_and(|code| {
                !code.is_empty()
                    && code == case.department
                    && code != case.complained_about
                    && !case.confidential
            }),
            Role::Mediator | Role::Analyst | Role::Leader | Role::Auditor | Role::System => false,
        };
        if full { Self::Full } else { Self::Masked }
    }

    /// Shows `case`'s petitioners as this disclosure allows.
    pub fn apply(self, case: &mut Case) {
        if self == Self::Masked {
            case.petitioners.iter_mut().for_each(mask_person);
        }
    }
}

fn mask_person(person: &mut Person) {
    person.name = name(&person.name);
    person.id_number = id_number(&person.id_number);
    person.phone = phone(&person.phone);
}

/// The first character of a name, then a `*` for each other one (王某 → 王*); a name of one
/// character is all `*`.
pub fn name(name: &str) -> String {
    let count = name.chars().count();
    if count < 2 {
        return "*".repeat(count);
    }
    keep(name, 1, 0)
}

/// An 18-character ID number keeps its region (6) and its last 2 characters
/// (420881**********34); any other length at most its first and last character.
pub fn id_number(id: &str) -> String {
    if id.chars().count() == 18 {
        keep(id, 6, 2)
    } else {
        ends(id)
    }
}

/// An 11-digit mobile number keeps its first 3 and last 4 digits (139****2222); any other
/// length at most its first and last character.
pub fn phone(phone: &str) -> String {
    if phone.chars().count() == 11 {
        format!("{}****{}", prefix(phone, 3), suffix(phone, 4))
    } else {
        ends(phone)
    }
}

/// At most the first and last character, the others starred; so little that it reveals
/// nothing: one character becomes `*`, two keep the first.
fn ends(text: &str) -> String {
    match text.chars().count() {
        0 => String::new(),
        1 => "*".into(),
        2 => keep(text, 1, 0),
        _ => keep(text, 1, 1),
    }
}

/// `head` first and `tail` last characters of `text`, a `*` for each one between.
fn keep(text: &str, head: usize, tail: usize) -> String {
    let count = text.chars().count();
    let hidden = count.saturating_sub(head + tail);
    format!(
        "{}{}{}",
        prefix(text, head),
        "*".repeat(hidden),
        suffix(text, tail.min(count.saturating_sub(head)))
    )
}

fn prefix(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

fn suffix(text: &str, n: usize) -> String {
    let count = text.chars().count();
    text.chars().skip(count.saturating_sub(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, department: Option<&str>) -> Principal {
        Principal {
            subject: "someone".into(),
            role,
            department: department.map(str::to_string),
            committee: None,
        }
    }

    fn case(department: &str, complained_about: &str, confidential: bool) -> Case {
        Case {
            department: department.into(),
            complained_about: complained_about.into(),
            confidential,
            petitioners: vec![Person {
                name: "欧阳娜娜".into(),
                id_number: "11010519491231002X".into(),
                phone: "13900002222".into(),
            }],
            ..Case::default()
        }
    }

    #[test]
    fn names_keep_their_first_character() {
        assert_eq!(name("王某"), "王*");
        assert_eq!(name("欧阳娜娜"), "欧***");
        assert_eq!(name("Li Lei"), "L*****");
        assert_eq!(name("王"), "*");
        assert_eq!(name(""), "");
    }

    #[test]
    fn id_numbers_keep_their_region_and_last_two_characters() {
        assert_eq!(id_number("420881199001011234"), "420881**********34");
        assert_eq!(id_number("11010519491231002X"), "110105**********2X");
        assert_eq!(id_number(""), "", "no number given stays none");
    }

    #[test]
    fn mobile_phones_keep_their_first_three_and_last_four_digits() {
        assert_eq!(phone("13900002222"), "139****2222");
        assert_eq!(phone(""), "");
    }

    #[test]
    fn other_lengths_keep_at_most_their_first_and_last_character() {
        assert_eq!(phone("0724-4221234"), "0**********4");
        assert_eq!(phone("+86-138-0000-0000"), "+***************0");
        assert_eq!(id_number("1234"), "1**4");
        assert_eq!(id_number("12"), "1*");
        assert_eq!(id_number("1"), "*");
    }

    #[test]
    fn reception_supervisors_admins_and_in_process_calls_see_identity_in_full() {
        let c = case("transport", "transport", true);
        assert_eq!(Disclosure::to(None, &c), Disclosure::Full);
        for role in [Role::Reception, Role::Supervisor, Role::Admin] {
            assert_eq!(
                Disclosure::to(Some(&caller(role, None)), &c),
                Disclosure::Full,
                "{role}"
            );
        }
    }

    #[test]
    fn analysts_auditors_leaders_systems_and_mediators_see_identity_masked() {
        let c = case("transport", "", false);
        for role in [
            Role::Analyst,
            Role::Auditor,
            Role::Leader,
            Role::System,
            Role::Mediator,
        ] {
            assert_eq!(
                Disclosure::to(Some(&caller(role, None)), &c),
                Disclosure::Masked,
                "{role}"
            );
        }
    }

    #[test]
    fn the_handling_department_sees_identity_in_full() {
        let transport = caller(Role::Department, Some("transport"));
        let c = case("transport", "civil-affairs", false);
        assert_eq!(Disclosure::to(Some(&transport), &c), Disclosure::Full);
    }

    #[test]
    fn a_department_not_holding_the_case_sees_identity_masked() {
        let transport = caller(Role::Department, Some("transport"));
        for c in [case("shipai-town", "", false), case("", "", false)] {
            assert_eq!(Disclosure::to(Some(&transport), &c), Disclosure::Masked);
        }
        let unbound = caller(Role::Department, Some(""));
        assert_eq!(
            Disclosure::to(Some(&unbound), &case("", "", false)),
            Disclosure::Masked
        );
    }

    #[test]
    fn the_complained_about_department_sees_identity_masked_even_while_handling_it() {
        let transport = caller(Role::Department, Some("transport"));
        let c = case("transport", "transport", false);
        assert_eq!(Disclosure::to(Some(&transport), &c), Disclosure::Masked);
    }

    #[test]
    fn a_confidential_case_is_masked_to_its_handling_department() {
        let transport = caller(Role::Department, Some("transport"));
        let c = case("transport", "", true);
        assert_eq!(Disclosure::to(Some(&transport), &c), Disclosure::Masked);
    }

    #[test]
    fn masking_a_case_masks_every_petitioner_and_nothing_else() {
        let mut c = case("transport", "", false);
        c.subject = "road".into();
        Disclosure::Masked.apply(&mut c);
        assert_eq!(
            c.petitioners,
            [Person {
                name: "欧***".into(),
                id_number: "110105**********2X".into(),
                phone: "139****2222".into(),
            }]
        );
        assert_eq!(c.subject, "road");
        let mut full = case("transport", "", false);
        Disclosure::Full.apply(&mut full);
        assert_eq!(full, case("transport", "", false));
    }
}
