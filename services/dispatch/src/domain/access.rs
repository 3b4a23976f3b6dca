//! Whose assignments a caller may see and act on (the object-level half of authorization): a
//! department only its own, supervisors and the other roles that reach dispatch everything.

use yimen_platform::auth::Scope;
use yimen_platform::error::Error;
use yimen_platform::validate;

/// The department whose work list a caller reads: a department its own (an empty `department`
/// field means its own), anyone else the one it names.
pub fn work_list_of<'a>(scope: &'a Scope, named: &'a str) -> Result<&'a str, Error> {
    let named = named.trim();
    match scope {
        Scope::Everything => Ok(validate::required("department", named)?),
        Scope::Department(own) if named.is_empty() || named == own => Ok(own),
        Scope::Department(own) => Err(Error::denied(format!(
            "department `{own}` may only list its own assignments"
        ))),
        Scope::Committee(_) | Scope::Submitter(_) => Err(not_a_department()),
    }
}

/// Whether a caller may act on an assignment `holder` holds (or held). The refusal names
/// neither the holder nor anything of the case: a department must not learn who handles a
/// matter that is not its own.
pub fn may_act_on(scope: &Scope, holder: &str) -> Result<(), Error> {
    match scope {
        Scope::Everything => Ok(()),
        Scope::Department(own) if own == holder => Ok(()),
        Scope::Department(_) => Err(Error::denied(
            "this assignment belongs to another department",
        )),
        Scope::Committee(_) | Scope::Submitter(_) => Err(not_a_department()),
    }
}

/// A mediator or an outside system reaches dispatch only if a deployment's policy lets it; even
/// then it holds no department's work.
fn not_a_department() -> Error {
    Error::denied("only a department or the center may see and act on assignments")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn department(code: &str) -> Scope {
        Scope::Department(code.into())
    }

    fn code_of<T: std::fmt::Debug>(result: Result<T, Error>) -> Code {
        tonic::Status::from(result.expect_err("refused")).code()
    }

    #[test]
    fn a_department_lists_its_own_work_whether_named_or_not() {
        let housing = department("housing");
        assert_eq!(work_list_of(&housing, "").unwrap(), "housing");
        assert_eq!(work_list_of(&housing, " housing ").unwrap(), "housing");
    }

    #[test]
    fn a_department_may_not_list_another_departments_work() {
        let refused = work_list_of(&department("housing"), "police").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "department `housing` may only list its own assignments"
        );
        assert_eq!(
            code_of(work_list_of(&department("housing"), "police")),
            Code::PermissionDenied
        );
    }

    #[test]
    fn everyone_else_names_the_department_it_lists() {
        assert_eq!(
            work_list_of(&Scope::Everything, " police ").unwrap(),
            "police"
        );
        match work_list_of(&Scope::Everything, " ") {
            Err(Error::InvalidArgument(v)) => assert_eq!(v[0].field, "department"),
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
        for scope in [
            Scope::Committee("people".into()),
            Scope::Submitter("gov".into()),
        ] {
            assert_eq!(
                code_of(work_list_of(&scope, "police")),
                Code::PermissionDenied
            );
        }
    }

    #[test]
    fn a_department_acts_only_on_what_it_holds_and_the_refusal_names_no_holder() {
        assert!(may_act_on(&department("housing"), "housing").is_ok());
        let refused = may_act_on(&department("housing"), "police").unwrap_err();
        assert!(!refused.to_string().contains("police"), "{refused}");
        assert_eq!(
            code_of(may_act_on(&department("housing"), "police")),
            Code::PermissionDenied
        );
    }

    #[test]
    fn everything_acts_on_any_assignment_and_no_other_scope_on_any() {
        assert!(may_act_on(&Scope::Everything, "police").is_ok());
        for scope in [
            Scope::Committee("people".into()),
            Scope::Submitter("gov".into()),
        ] {
            assert_eq!(
                code_of(may_act_on(&scope, "police")),
                Code::PermissionDenied
            );
        }
    }
}
