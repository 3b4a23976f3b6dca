//! What ListCases may ask for: filters, and keyset pages newest first. A page token names the
//! last case of the previous page (`<registered_at millis>:<case id>`), so a page never skips
//! or repeats a case however many are registered meanwhile.

use prost_types::Timestamp;
use yimen_platform::error::{Error, FieldViolation, Violations};
use yimen_proto::v1::{CaseStatus, Category, ListCasesRequest};

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 500;
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
    pub after: Option<PageToken>,
    pub page_size: u32,
}

impl CaseFilter {
    pub fn parse(request: &ListCasesRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        if CaseStatus::try_from(request.status).is_err() {
            v.add("status", format!("unknown status {}", request.status));
        }
        if Category::try_from(request.category).is_err() {
            v.add("category", format!("unknown category {}", request.category));
        }
        let town = request.town.trim().to_string();
        if town.chars().count() > TOWN_MAX {
            v.add("town", format!("at most {TOWN_MAX} characters"));
        }
        let from = v.check(bound("registered_from", request.registered_from.as_ref()));
        let to = v.check(bound("registered_to", request.registered_to.as_ref()));
        let page = request.page.clone().unwrap_or_default();
        let after = v.check(match page.page_token.as_str() {
            "" => Ok(None),
            token => PageToken::parse(token).map(Some),
        });
        v.finish()?;
        Ok(Self {
            status: request.status,
            category: request.category,
            town,
            registered_from: from.flatten().unwrap_or(i64::MIN),
            registered_to: to.flatten().unwrap_or(i64::MAX),
            after: after.flatten(),
            page_size: page_size(page.page_size),
        })
    }
}

/// 0 asks for the default; more than the maximum gets the maximum.
pub fn page_size(requested: u32) -> u32 {
    match requested {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}

/// A timestamp bound in millis; refuses one whose millis would not fit.
fn bound(field: &str, ts: Option<&Timestamp>) -> Result<Option<i64>, FieldViolation> {
    let Some(ts) = ts else { return Ok(None) };
    ts.seconds
        .checked_mul(1000)
        .filter(|_| (0..1_000_000_000).contains(&ts.nanos))
        .and_then(|ms| ms.checked_add(i64::from(ts.nanos / 1_000_000)))
        .map(Some)
        .ok_or_else(|| FieldViolation::new(field, "not a valid time"))
}

/// Where the next page starts: just after this case, in newest-first order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    pub registered_at: i64,
    pub case_id: String,
}

impl PageToken {
    pub fn parse(token: &str) -> Result<Self, FieldViolation> {
        let bad = || FieldViolation::new("page.page_token", "not a token this server gave");
        let (millis, id) = token.split_once(':').ok_or_else(bad)?;
        Ok(Self {
            registered_at: millis.parse().map_err(|_| bad())?,
            case_id: uuid::Uuid::parse_str(id).map_err(|_| bad())?.to_string(),
        })
    }

    pub fn encode(&self) -> String {
        format!("{}:{}", self.registered_at, self.case_id)
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!((f.after, f.page_size), (None, DEFAULT_PAGE_SIZE));
    }

    #[test]
    fn page_size_is_capped_at_five_hundred() {
        assert_eq!(page_size(10_000), MAX_PAGE_SIZE);
        assert_eq!(page_size(7), 7);
    }

    #[test]
    fn page_token_round_trips() {
        let token = PageToken {
            registered_at: 1_767_225_600_123,
            case_id: uuid::Uuid::now_v7().to_string(),
        };
        assert_eq!(PageToken::parse(&token.encode()), Ok(token));
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
