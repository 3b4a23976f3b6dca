//! Whose mediation files a caller may see and act on (the object-level half of
//! authorization): a mediator only its committee's, the other roles that reach mediation all.

use yimen_platform::auth::Scope;
use yimen_platform::error::Error;

/// The committee whose files a caller lists: a mediator its own (an empty `committee` filter
/// means its own), anyone else the one it names, or all when it names none.
pub fn committee_to_list<'a>(scope: &'a Scope, named: &'a str) -> Result<&'a str, Error> {
    match scope {
        Scope::Everything => Ok(named),
        Scope::Committee(own) if named.is_empty() || named == own => Ok(own),
        Scope::Committee(own) => Err(Error::denied(format!(
            "a mediator of committee `{own}` may only list its own committee's files"
        ))),
        Scope::Department(_) | Scope::Submitter(_) => Err(not_a_mediator()),
    }
}

/// Whether a caller may see a file of `committee` at all; one it may not see is answered as
/// if it did not exist, so a mediator cannot even learn which files other committees hold.
pub fn may_see(scope: &Scope, committee: &str) -> bool {
    match scope {
        Scope::Everything => true,
        Scope::Committee(own) => own == committee,
        Scope::Department(_) | Scope::Submitter(_) => false,
    }
}

/// Whether a caller may act on a file of `committee` (schedule, conclude, go to court); the
/// refusal names neither that committee nor anything of the file.
pub fn may_act_on(scope: &Scope, committee: &str) -> Result<(), Error> {
    match scope {
        Scope::Everything => Ok(()),
        Scope::Committee(own) if own == committee => Ok(()),
        Scope::Committee(_) => Err(Error::denied(
            "this mediation file belongs to another committee",
        )),
        Scope::Department(_) | Scope::Submitter(_) => Err(not_a_mediator()),
    }
}

/// A department or an outside system reaches mediation only if a deployment's policy lets it;
/// even then it holds no committee's files.
fn not_a_mediator() -> Error {
    Error::denied("only a mediator or the center may see and act on mediation files")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mediator(committee: &str) -> Scope {
        Scope::Committee(committee.into())
    }

    fn others() -> [Scope; 2] {
        [
            Scope::Department("housing".into()),
            Scope::Submitter("gov".into()),
        ]
    }

    #[test]
    fn a_mediator_lists_its_own_committees_files_whether_named_or_not() {
        let labour = mediator("labour");
        assert_eq!(committee_to_list(&labour, "").unwrap(), "labour");
        assert_eq!(committee_to_list(&labour, "labour").unwrap(), "labour");
        let refused = committee_to_list(&labour, "medical").unwrap_err();
        assert!(matches!(refused, Error::PermissionDenied(_)), "{refused:?}");
        assert_eq!(
            refused.to_string(),
            "a mediator of committee `labour` may only list its own committee's files"
        );
    }

    #[test]
    fn everything_lists_what_it_names_or_all() {
        assert_eq!(committee_to_list(&Scope::Everything, "").unwrap(), "");
        assert_eq!(
            committee_to_list(&Scope::Everything, "medical").unwrap(),
            "medical"
        );
        for scope in others() {
            assert!(matches!(
                committee_to_list(&scope, ""),
                Err(Error::PermissionDenied(_))
            ));
        }
    }

    #[test]
    fn a_mediator_sees_only_its_committees_files() {
        assert!(may_see(&mediator("labour"), "labour"));
        assert!(!may_see(&mediator("labour"), "medical"));
        assert!(may_see(&Scope::Everything, "medical"));
        for scope in others() {
            assert!(!may_see(&scope, "labour"));
        }
    }

    #[test]
    fn a_mediator_acts_only_on_its_committees_files_and_the_refusal_names_no_committee() {
        assert!(may_act_on(&mediator("labour"), "labour").is_ok());
        assert!(may_act_on(&Scope::Everything, "medical").is_ok());
        let refused = may_act_on(&mediator("labour"), "medical").unwrap_err();
        assert!(matches!(refused, Error::PermissionDenied(_)), "{refused:?}");
        assert!(!refused.to_string().contains("medical"), "{refused}");
        for scope in others() {
            assert!(matches!(
                may_act_on(&scope, "labour"),
                Err(Error::PermissionDenied(_))
            ));
        }
    }
}
