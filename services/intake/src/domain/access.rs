//! Which cases a caller may read (the object-level half of authorization in intake): every
//! case, the cases its department holds or held, or the cases its system submitted.

use yimen_platform::auth::Scope;

/// The cases a caller sees in GetCase and ListCases. A case outside them is answered exactly
/// as an unknown one, so a caller learns nothing of cases it may not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Every case: reception, supervisors and the other roles that see everything.
    Every,
    /// The cases this department was ever given, including those it returned or handed over.
    HeldBy(String),
    /// The cases this outside system submitted itself.
    SubmittedBy(String),
    /// None at all: a scope with no intake cases (a mediator's committee), or one missing the
    /// name it is bound to.
    Nothing,
}

impl Visibility {
    pub fn of(scope: &Scope) -> Self {
        match scope {
            Scope::Everything => Self::Every,
            Scope::Department(code) if !code.is_empty() => Self::HeldBy(code.clone()),
            Scope::Submitter(subject) if !subject.is_empty() => Self::SubmittedBy(subject.clone()),
            // The policy does not let a mediator reach intake's cases at all; should it be
            // changed to, a committee still holds no case here.
            Scope::Committee(_) | Scope::Department(_) | Scope::Submitter(_) => Self::Nothing,
        }
    }

    /// Whom a case registered by this caller is recorded as submitted by: only an outside
    /// system, the one caller that reads by what it submitted. A case registered at the door
    /// records no submitter.
    pub fn submitter(&self) -> Option<&str> {
        match self {
            Self::SubmittedBy(subject) => Some(subject),
            Self::Every | Self::HeldBy(_) | Self::Nothing => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_that_see_everything_see_every_case() {
        assert_eq!(Visibility::of(&Scope::Everything), Visibility::Every);
    }

    #[test]
    fn a_department_sees_the_cases_it_holds_or_held() {
        assert_eq!(
            Visibility::of(&Scope::Department("transport".into())),
            Visibility::HeldBy("transport".into())
        );
    }

    #[test]
    fn a_system_sees_its_own_submissions_and_is_recorded_as_their_submitter() {
        let v = Visibility::of(&Scope::Submitter("hotline-12345".into()));
        assert_eq!(v, Visibility::SubmittedBy("hotline-12345".into()));
        assert_eq!(v.submitter(), Some("hotline-12345"));
    }

    #[test]
    fn cases_registered_at_the_door_record_no_submitter() {
        assert_eq!(Visibility::Every.submitter(), None);
        assert_eq!(Visibility::HeldBy("transport".into()).submitter(), None);
    }

    #[test]
    fn a_committee_or_an_unbound_scope_sees_nothing() {
        for scope in [
            Scope::Committee("civil-commercial".into()),
            Scope::Department(String::new()),
            Scope::Submitter(String::new()),
        ] {
            assert_eq!(Visibility::of(&scope), Visibility::Nothing, "{scope:?}");
        }
    }
}
