//! What ListCases may ask for: filters, and keyset pages newest first (the platform's
//! `paging`; a token names the last case of the previous page, `<registered_at>:<case id>`).

use yimen_platform::error::{Error, Violations};
use yimen_platform::paging::Page;
use yimen_platform::validate;
use yimen_proto::v1::{CaseStatus, Category, ListCasesRequest};

const TOWN_MAX: usize = 100;

/// A checked ListCases request. Zero and empty mean "any".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFilter {
    /// `CaseStatus` as stored; 0 for any.
    pub status: i32,
    /// `Category` as stored; 0 for any.
    pub category: i32,
    pub town: String,
    /// Inclusive.
    pub registered_from: i64,
    /// Exclusive.
    pub registered_to: i64,
    pub page: Page,
}

impl CaseFilter {
    pub fn parse(request: &ListCasesRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        v.check(validate::known_or_any::<CaseStatus>(
            "status",
            request.status,
        ));
        v.check(validate::known_or_any::<Category>(
            "category",
            request.category,
        ));
        let town = request.town.trim().to_string();
        v.check(validate::max_chars("town", &town, TOWN_MAX));
        let from = v.check(validate::optional_time(
            "registered_from",
            request.registered_from.as_ref(),
        ));
        let to = v.check(validate::optional_time(
            "registered_to",
            request.registered_to.as_ref(),
        ));
        let page = v.check(Page::parse(request.page.as_ref()));
        v.finish()?;
        Ok(Self {
            status: request.status,
            category: request.category,
            town,
            registered_from: from.flatten().unwrap_or(i64::MIN),
            registered_to: to.flatten().unwrap_or(i64::MAX),
            page: page.ok_or_else(|| Error::invalid("page", "invalid"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use prost_types::Timestamp;
    use yimen_proto::v1::PageRequest;

    use super::*;

    fn fields(request: ListCasesRequest) -> Vec<String> {
        match CaseFilter::parse(&request) {
            Ok(_) => vec![],
            Err(Error::InvalidArgument(v)) => v.into_iter().map(|v| v.field).collect(),
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    fn with_token(token: &str) -> ListCasesRequest {
        ListCasesRequest {
            page: Some(PageRequest {
                page_size: 0,
                page_token: token.into(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn empty_request_lists_everything_fifty_at_a_time() {
        let f = CaseFilter::parse(&ListCasesRequest::default()).expect("valid");
        assert_eq!((f.status, f.category, f.town.as_str()), (0, 0, ""));
        assert_eq!((f.registered_from, f.registered_to), (i64::MIN, i64::MAX));
        assert_eq!(
            (f.page.after, f.page.size),
            (None, yimen_platform::paging::DEFAULT_PAGE_SIZE)
        );
    }

    #[test]
    fn malformed_page_token_is_rejected_naming_the_field() {
        for bad in [
            "nonsense",
            "12:not-a-uuid",
            "x:0190a0a0-0000-7000-8000-000000000000",
        ] {
            assert_eq!(fields(with_token(bad)), ["page.page_token"], "{bad}");
        }
    }

    #[test]
    fn unknown_status_or_category_filter_is_rejected() {
        let r = ListCasesRequest {
            status: 42,
            category: 99,
            ..Default::default()
        };
        assert_eq!(fields(r), ["status", "category"]);
    }

    #[test]
    fn timestamps_out_of_range_are_rejected() {
        let r = ListCasesRequest {
            registered_from: Some(Timestamp {
                seconds: i64::MAX,
                nanos: 0,
            }),
            registered_to: Some(Timestamp {
                seconds: 0,
                nanos: -1,
            }),
            ..Default::default()
        };
        assert_eq!(fields(r), ["registered_from", "registered_to"]);
    }

    #[test]
    fn registration_bounds_are_millis() {
        let r = ListCasesRequest {
            registered_from: Some(Timestamp {
                seconds: 10,
                nanos: 5_000_000,
            }),
            ..Default::default()
        };
        assert_eq!(
            CaseFilter::parse(&r).expect("valid").registered_from,
            10_005
        );
    }
}
