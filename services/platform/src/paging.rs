//! Keyset pagination, the one way every List RPC pages: a page token names the last row of
//! the previous page (`<millis>:<uuid>`), so a page never skips or repeats a row however many
//! are written meanwhile.

use yimen_proto::v1::PageRequest;

use crate::error::FieldViolation;

/// What `page_size = 0` gets.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Larger requests get this many.
pub const MAX_PAGE_SIZE: u32 = 500;

/// Where the next page starts: just after the row with this sort time and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    pub millis: i64,
    pub id: String,
}

impl PageToken {
    pub fn parse(token: &str) -> Result<Self, FieldViolation> {
        let bad = || FieldViolation::new("page.page_token", "not a token this server gave");
        let (millis, id) = token.split_once(':').ok_or_else(bad)?;
        Ok(Self {
            millis: millis.parse().map_err(|_| bad())?,
            id: uuid::Uuid::parse_str(id).map_err(|_| bad())?.to_string(),
        })
    }

    pub fn encode(&self) -> String {
        format!("{}:{}", self.millis, self.id)
    }
}

/// A checked `PageRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub after: Option<PageToken>,
    pub size: u32,
}

impl Page {
    pub fn parse(request: Option<&PageRequest>) -> Result<Self, FieldViolation> {
        let request = request.cloned().unwrap_or_default();
        let after = match request.page_token.as_str() {
            "" => None,
            token => Some(PageToken::parse(token)?),
        };
        let size = match request.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        Ok(Self { after, size })
    }

    /// How many rows to fetch: one more than the page tells whether another follows.
    pub fn fetch(&self) -> i64 {
        i64::from(self.size) + 1
    }

    /// Cuts fetched `rows` to the page and answers the next page's token (empty at the end).
    pub fn finish<T>(&self, rows: &mut Vec<T>, key: impl Fn(&T) -> PageToken) -> String {
        if rows.len() <= self.size as usize {
            return String::new();
        }
        rows.truncate(self.size as usize);
        rows.last()
            .map(|last| key(last).encode())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(size: u32, token: &str) -> Result<Page, FieldViolation> {
        Page::parse(Some(&PageRequest {
            page_size: size,
            page_token: token.into(),
        }))
    }

    #[test]
    fn zero_asks_for_the_default_and_large_sizes_are_capped() {
        assert_eq!(Page::parse(None).unwrap().size, DEFAULT_PAGE_SIZE);
        assert_eq!(page(0, "").unwrap().size, DEFAULT_PAGE_SIZE);
        assert_eq!(page(7, "").unwrap().size, 7);
        assert_eq!(page(10_000, "").unwrap().size, MAX_PAGE_SIZE);
    }

    #[test]
    fn page_token_round_trips() {
        let token = PageToken {
            millis: 1_767_225_600_123,
            id: uuid::Uuid::now_v7().to_string(),
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
            assert_eq!(page(0, bad).unwrap_err().field, "page.page_token", "{bad}");
        }
    }

    #[test]
    fn finish_cuts_the_extra_row_and_names_the_last_one_kept() {
        let page = page(2, "").unwrap();
        let id = |n: i64| PageToken {
            millis: n,
            id: format!("id-{n}"),
        };
        let mut rows = vec![1, 2, 3];
        assert_eq!(page.finish(&mut rows, |n| id(*n)), "2:id-2");
        assert_eq!(rows, [1, 2]);
        let mut last = vec![1, 2];
        assert_eq!(page.finish(&mut last, |n| id(*n)), "");
        assert_eq!(last, [1, 2]);
    }
}
