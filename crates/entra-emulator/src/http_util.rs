//! Small helpers for request parsing shared by the Graph routes and `$batch`. Pure: no I/O.

/// Percent-decode a path (`%27` → `'`); invalid escapes are kept as they are (the
/// `percent-encoding` crate, which `url` uses).
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Parse a query string into decoded pairs, keeping order. `+` is a space, as in forms.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_paths_and_queries() {
        assert_eq!(
            percent_decode("applications(appId=%27a%27)"),
            "applications(appId='a')"
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(
            parse_query("$filter=appId%20eq%20'x'&$top=5"),
            [
                ("$filter".to_owned(), "appId eq 'x'".to_owned()),
                ("$top".to_owned(), "5".to_owned())
            ]
        );
    }
}
