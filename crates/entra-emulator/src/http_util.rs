//! Small helpers for request parsing shared by the Graph routes and `$batch`. Pure: no I/O.

/// Percent-decode a path (`%27` → `'`); invalid escapes are kept as they are.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
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
