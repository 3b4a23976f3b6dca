//! What ListAlerts and WatchAlerts may ask for: filters, and (for the list) keyset pages
//! newest first (the platform's `paging`; a token names the last alert of the previous page,
//! `<raised_at>:<alert id>`).

use yimen_platform::error::{Error, Violations};
use yimen_platform::paging::Page;
use yimen_platform::validate;
use yimen_proto::v1::{AlertKind, ListAlertsRequest};

const CASE_ID_MAX: usize = 100;

/// Which alerts are wanted. Zero and empty mean any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub include_acknowledged: bool,
    /// `AlertKind` as stored; 0 for any.
    pub kind: i32,
    pub case_id: String,
}

impl AlertFilter {
    /// The filter of a request, for the watch (which has no pages).
    pub fn parse(request: &ListAlertsRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let filter = Self::check(request, &mut v);
        v.finish()?;
        Ok(filter)
    }

    fn check(request: &ListAlertsRequest, v: &mut Violations) -> Self {
        v.check(validate::known_or_any::<AlertKind>("kind", request.kind));
        let case_id = request.case_id.trim().to_string();
        v.check(validate::max_chars("case_id", &case_id, CASE_ID_MAX));
        Self {
            include_acknowledged: request.include_acknowledged,
            kind: request.kind,
            case_id,
        }
    }
}

/// The filter and the page of a ListAlerts request; every bad field named at once.
pub fn parse_listing(request: &ListAlertsRequest) -> Result<(AlertFilter, Page), Error> {
    let mut v = Violations::new();
    let filter = AlertFilter::check(request, &mut v);
    let page = v.check(Page::parse(request.page.as_ref()));
    v.finish()?;
    let page = page.ok_or_else(|| Error::invalid("page", "invalid"))?;
    Ok((filter, page))
}

#[cfg(test)]
mod tests {
    use yimen_proto::v1::PageRequest;

    use super::*;

    fn fields(request: &ListAlertsRequest) -> Vec<String> {
        match parse_listing(request) {
            Ok(_) => vec![],
            Err(Error::InvalidArgument(v)) => v.into_iter().map(|v| v.field).collect(),
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    #[test]
    fn an_empty_request_lists_unacknowledged_alerts_of_any_kind() {
        let (filter, page) = parse_listing(&ListAlertsRequest::default()).unwrap();
        assert_eq!(filter, AlertFilter::default());
        assert_eq!(page.size, yimen_platform::paging::DEFAULT_PAGE_SIZE);
    }

    #[test]
    fn every_bad_field_is_named() {
        let request = ListAlertsRequest {
            kind: 42,
            case_id: "x".repeat(101),
            page: Some(PageRequest {
                page_size: 0,
                page_token: "nonsense".into(),
            }),
            ..Default::default()
        };
        assert_eq!(fields(&request), ["kind", "case_id", "page.page_token"]);
    }
}
