//! Cursor pagination: `limit` (1–100, default 20) and `starting_after` (the last id of the
//! previous page); answers carry `has_more`.

use crate::error::AppError;
use serde::Serialize;

/// The default page size.
pub const DEFAULT_LIMIT: u32 = 20;
/// The largest page size.
pub const MAX_LIMIT: u32 = 100;

/// A validated page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest<Cursor> {
    /// How many items at most.
    pub limit: u32,
    /// Continue after this item.
    pub starting_after: Option<Cursor>,
}

impl<Cursor: std::str::FromStr> PageRequest<Cursor>
where
    Cursor::Err: std::fmt::Display,
{
    /// Validates raw query values.
    pub fn parse(limit: Option<&str>, starting_after: Option<&str>) -> Result<Self, AppError> {
        let mut errors = crate::validation::FieldErrors::new();
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    errors.add(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_LIMIT}"),
                    );
                    DEFAULT_LIMIT
                }
            },
        };
        let starting_after = match starting_after.filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => match raw.parse::<Cursor>() {
                Ok(c) => Some(c),
                Err(e) => {
                    errors.add("starting_after", e.to_string());
                    None
                }
            },
        };
        errors.into_result()?;
        Ok(PageRequest {
            limit,
            starting_after,
        })
    }

    /// How many rows to fetch: one more than the limit tells whether there is a next page.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// Whether another page follows.
    pub has_more: bool,
}

impl<T> Page<T> {
    /// Builds a page from rows fetched with [`PageRequest::fetch_limit`].
    pub fn from_rows(mut rows: Vec<T>, limit: u32) -> Page<T> {
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Page {
            items: rows,
            has_more,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::MerchantId;

    #[test]
    fn validates_limit_and_cursor() {
        let ok = PageRequest::<MerchantId>::parse(Some("100"), None).unwrap();
        assert_eq!(ok.limit, 100);
        for bad in ["0", "101", "-1", "ten"] {
            assert!(PageRequest::<MerchantId>::parse(Some(bad), None).is_err());
        }
        assert!(PageRequest::<MerchantId>::parse(None, Some("mer_nope")).is_err());
    }

    #[test]
    fn one_extra_row_means_more() {
        let page = Page::from_rows(vec![1, 2, 3], 2);
        assert_eq!(page.items, vec![1, 2]);
        assert!(page.has_more);
        assert!(!Page::from_rows(vec![1, 2], 2).has_more);
    }
}
