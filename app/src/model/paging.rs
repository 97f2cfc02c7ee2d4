//! How lists are asked for, the same for the pages and the REST API: one
//! page-size rule and one way to read a search box.

/// Rows per page unless asked otherwise.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The most rows one page holds (the workflow list asks for big pages once scrolling).
pub const MAX_PAGE_SIZE: u32 = 500;

/// The page size asked for, or a clear error when out of range.
pub fn page_size(limit: Option<u32>) -> Result<u32, String> {
    match limit {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n @ 1..=MAX_PAGE_SIZE) => Ok(n),
        Some(n) => Err(format!("limit must be between 1 and {MAX_PAGE_SIZE}, not {n}")),
    }
}

/// A search as typed: surrounding spaces ignored, and nothing left means no search.
pub fn normalized_search(search: Option<&str>) -> Option<&str> {
    search.map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_one_to_the_maximum() {
        assert_eq!(page_size(None), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(Some(MAX_PAGE_SIZE)), Ok(MAX_PAGE_SIZE));
        assert_eq!(page_size(Some(0)), Err("limit must be between 1 and 500, not 0".into()));
        assert!(page_size(Some(MAX_PAGE_SIZE + 1)).is_err());
    }

    #[test]
    fn a_blank_search_is_no_search() {
        assert_eq!(normalized_search(Some("  nightly ")), Some("nightly"));
        assert_eq!(normalized_search(Some("   ")), None);
        assert_eq!(normalized_search(None), None);
    }
}
