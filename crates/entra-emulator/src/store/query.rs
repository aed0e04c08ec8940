//! OData query options the directory supports on our collections: `$filter` (`eq`, `and`,
//! `startswith`, `…/any(c:c eq '…')`), `$select` and `$top` paging. Pure: no I/O.
//!
//! Directory string comparisons ignore case (`displayName eq 'microsoft graph'` finds
//! "Microsoft Graph"), property names too. Anything else (`ne`, `or`, `endswith`, properties
//! without filter support) is refused with Graph's 400 `Request_UnsupportedQuery`, as the
//! directory does without `ConsistencyLevel: eventual` (docs/graph-notes.md §6.4).

use serde_json::{Map, Value};

use super::error::{GraphError, GraphResult};

/// Which properties of a resource support which filter forms (the resource pages' property
/// tables, docs/graph-notes.md §1–§3).
#[derive(Clone, Copy, Debug)]
pub struct FilterSpec {
    /// Resource name as Graph spells it in errors (`Application`, `ServicePrincipal`).
    pub resource: &'static str,
    pub eq: &'static [&'static str],
    pub starts_with: &'static [&'static str],
    /// String collections that support `any(c:c eq '…')`.
    pub any: &'static [&'static str],
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Str(String),
    Bool(bool),
    Null,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    Eq(String, Literal),
    StartsWith(String, String),
    Any(String, String),
    And(Vec<Filter>),
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Open,
    Close,
    Comma,
    Colon,
}

/// Syntax errors: 400 `BadRequest` "Invalid filter clause", as captured in
/// microsoft-graph-docs-contrib issue #4133.
fn invalid() -> GraphError {
    GraphError::new(400, "BadRequest", "Invalid filter clause")
}

fn tokenize(text: &str) -> GraphResult<Vec<Tok>> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1
            }
            ')' => {
                out.push(Tok::Close);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            ':' => {
                out.push(Tok::Colon);
                i += 1
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(invalid()),
                        // OData escapes a quote inside a string by doubling it.
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '.' | '/' | '-' | '$' | '@') => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '/' | '-' | '$' | '@'))
                {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            _ => return Err(invalid()),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    spec: &'a FilterSpec,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn expect(&mut self, tok: Tok) -> GraphResult<()> {
        if self.next() == Some(tok) {
            Ok(())
        } else {
            Err(invalid())
        }
    }

    fn canonical(&self, list: &[&'static str], prop: &str) -> GraphResult<String> {
        list.iter()
            .find(|p| p.eq_ignore_ascii_case(prop))
            .map(|p| (*p).to_owned())
            .ok_or_else(|| GraphError::unsupported_filter(prop, self.spec.resource))
    }

    fn expr(&mut self) -> GraphResult<Filter> {
        let mut parts = vec![self.primary()?];
        loop {
            match self.peek() {
                Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("and") => {
                    self.pos += 1;
                    parts.push(self.primary()?);
                }
                Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("or") => {
                    return Err(GraphError::unsupported_query(
                        "Unsupported query: 'or' is not supported on this resource.",
                    ));
                }
                _ => break,
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::And(parts)
        })
    }

    fn primary(&mut self) -> GraphResult<Filter> {
        match self.next() {
            Some(Tok::Open) => {
                let e = self.expr()?;
                self.expect(Tok::Close)?;
                Ok(e)
            }
            Some(Tok::Ident(name)) => {
                if self.peek() == Some(&Tok::Open) {
                    self.pos += 1;
                    self.function(&name)
                } else {
                    self.comparison(&name)
                }
            }
            _ => Err(invalid()),
        }
    }

    fn function(&mut self, name: &str) -> GraphResult<Filter> {
        if name.eq_ignore_ascii_case("startswith") {
            let Some(Tok::Ident(prop)) = self.next() else {
                return Err(invalid());
            };
            self.expect(Tok::Comma)?;
            let Some(Tok::Str(value)) = self.next() else {
                return Err(invalid());
            };
            self.expect(Tok::Close)?;
            let prop = self.canonical(self.spec.starts_with, &prop)?;
            return Ok(Filter::StartsWith(prop, value));
        }
        if let Some(collection) = name.strip_suffix("/any").or_else(|| name.strip_suffix("/ANY")) {
            let Some(Tok::Ident(var)) = self.next() else {
                return Err(invalid());
            };
            self.expect(Tok::Colon)?;
            let Some(Tok::Ident(var2)) = self.next() else {
                return Err(invalid());
            };
            if var != var2 {
                return Err(invalid());
            }
            match self.next() {
                Some(Tok::Ident(op)) if op.eq_ignore_ascii_case("eq") => {}
                _ => return Err(GraphError::unsupported_filter(collection, self.spec.resource)),
            }
            let Some(Tok::Str(value)) = self.next() else {
                return Err(invalid());
            };
            self.expect(Tok::Close)?;
            let prop = self.canonical(self.spec.any, collection)?;
            return Ok(Filter::Any(prop, value));
        }
        Err(GraphError::unsupported_query(format!(
            "Unsupported query: function '{name}' is not supported."
        )))
    }

    fn comparison(&mut self, prop: &str) -> GraphResult<Filter> {
        let op = match self.next() {
            Some(Tok::Ident(op)) => op,
            _ => return Err(invalid()),
        };
        if !op.eq_ignore_ascii_case("eq") {
            // `ne` and `not` need advanced queries (ConsistencyLevel: eventual, docs/graph-notes.md §6.4), which
            // this emulator does not offer; the operator names follow issue #3042's capture.
            let name = match op.to_ascii_lowercase().as_str() {
                "ne" => "NotEqualsMatch",
                "gt" => "GreaterThan",
                "ge" => "GreaterThanOrEqual",
                "lt" => "LessThan",
                "le" => "LessThanOrEqual",
                _ => return Err(invalid()),
            };
            return Err(GraphError::unsupported_query(format!(
                "Unsupported property filter clause operator '{name}'."
            )));
        }
        let literal = match self.next() {
            Some(Tok::Str(s)) => Literal::Str(s),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("null") => Literal::Null,
            _ => return Err(invalid()),
        };
        let prop = self.canonical(self.spec.eq, prop)?;
        Ok(Filter::Eq(prop, literal))
    }
}

/// Parse a `$filter` value against what the resource supports.
pub fn parse_filter(text: &str, spec: &FilterSpec) -> GraphResult<Filter> {
    let toks = tokenize(text)?;
    if toks.is_empty() {
        return Err(invalid());
    }
    let mut p = Parser { toks, pos: 0, spec };
    let f = p.expr()?;
    if p.pos != p.toks.len() {
        return Err(invalid());
    }
    Ok(f)
}

fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Whether a Graph object passes the filter.
pub fn matches(filter: &Filter, obj: &Map<String, Value>) -> bool {
    match filter {
        Filter::And(parts) => parts.iter().all(|f| matches(f, obj)),
        Filter::Eq(prop, lit) => match (field(obj, prop), lit) {
            (None | Some(Value::Null), Literal::Null) => true,
            (Some(Value::String(s)), Literal::Str(v)) => s.eq_ignore_ascii_case(v),
            (Some(Value::Bool(b)), Literal::Bool(v)) => b == v,
            _ => false,
        },
        Filter::StartsWith(prop, v) => match field(obj, prop) {
            Some(Value::String(s)) => s.to_lowercase().starts_with(&v.to_lowercase()),
            _ => false,
        },
        Filter::Any(prop, v) => match field(obj, prop) {
            Some(Value::Array(items)) => items
                .iter()
                .any(|i| i.as_str().is_some_and(|s| s.eq_ignore_ascii_case(v))),
            _ => false,
        },
    }
}

/// Parse `$select` against the properties the type has; names come back in Graph's spelling.
/// An unknown name gets 400 `Request_BadRequest` with the OData library's wording [derived].
pub fn parse_select(text: &str, known: &[String], type_name: &str) -> GraphResult<Vec<String>> {
    let mut out = Vec::new();
    for raw in text.split(',') {
        let name = raw.trim();
        if name.is_empty() {
            continue;
        }
        let canonical = known
            .iter()
            .find(|k| k.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                GraphError::bad_request(format!(
                    "Could not find a property named '{name}' on type '{type_name}'."
                ))
            })?;
        if !out.contains(canonical) {
            out.push(canonical.clone());
        }
    }
    Ok(out)
}

/// Keep only the selected properties, in the order `$select` named them.
pub fn project(obj: &Map<String, Value>, select: &[String]) -> Map<String, Value> {
    let mut out = Map::new();
    for name in select {
        out.insert(name.clone(), obj.get(name).cloned().unwrap_or(Value::Null));
    }
    out
}

/// Default and largest page sizes of directory collections (docs/graph-notes.md §1).
pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 999;

/// Parse `$top`; Graph refuses sizes outside 1..=999 [derived wording].
pub fn parse_top(text: &str) -> GraphResult<usize> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        _ => Err(GraphError::new(
            400,
            "Request_BadRequest",
            format!("Invalid page size specified: '{text}'. Must be between 1 and {MAX_PAGE} inclusive."),
        )),
    }
}

/// An opaque `$skiptoken` for an offset. Clients must follow `@odata.nextLink` verbatim and never
/// build tokens (docs/graph-notes.md §6.3), so only the emulator reads it back.
pub fn skiptoken(offset: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("emulator-skip:{offset}"))
}

/// The offset in a `$skiptoken`, or 400 when it is not one of ours.
pub fn parse_skiptoken(token: &str) -> GraphResult<usize> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("emulator-skip:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| GraphError::bad_request("Invalid skip token."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPEC: FilterSpec = FilterSpec {
        resource: "ServicePrincipal",
        eq: &["appId", "displayName", "accountEnabled"],
        starts_with: &["displayName"],
        any: &["servicePrincipalNames"],
    };

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn eq_and_startswith_any() {
        let sp = obj(
            json!({"appId":"A1","displayName":"Microsoft Graph","accountEnabled":true,
            "servicePrincipalNames":["https://graph.microsoft.com"]}),
        );
        for (f, want) in [
            ("appId eq 'a1'", true),
            ("displayName eq 'Microsoft Graph' and appId eq 'A1'", true),
            ("displayName eq 'Microsoft Graph' and appId eq 'B'", false),
            ("startswith(displayName,'micro')", true),
            (
                "servicePrincipalNames/any(c:c eq 'https://graph.microsoft.com')",
                true,
            ),
            ("servicePrincipalNames/any(x:x eq 'nope')", false),
            ("accountEnabled eq true", true),
            ("(appId eq 'A1')", true),
        ] {
            let parsed = parse_filter(f, &SPEC).unwrap();
            assert_eq!(matches(&parsed, &sp), want, "{f}");
        }
    }

    #[test]
    fn quotes_are_doubled() {
        let f = parse_filter("displayName eq 'O''Brien'", &SPEC).unwrap();
        assert_eq!(
            f,
            Filter::Eq("displayName".into(), Literal::Str("O'Brien".into()))
        );
    }

    #[test]
    fn unsupported_forms_are_refused() {
        let e = parse_filter("notes eq 'x'", &SPEC).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "Request_UnsupportedQuery"));
        assert!(e.message.contains("'notes' of resource 'ServicePrincipal'"));
        let e = parse_filter("appId ne 'x'", &SPEC).unwrap_err();
        assert_eq!(
            e.message,
            "Unsupported property filter clause operator 'NotEqualsMatch'."
        );
        assert_eq!(
            parse_filter("appId eq 'x' or appId eq 'y'", &SPEC)
                .unwrap_err()
                .code,
            "Request_UnsupportedQuery"
        );
        assert_eq!(
            parse_filter("endswith(displayName,'x')", &SPEC).unwrap_err().code,
            "Request_UnsupportedQuery"
        );
        assert_eq!(parse_filter("appId eq", &SPEC).unwrap_err().code, "BadRequest");
        assert_eq!(parse_filter("appId eq 'x", &SPEC).unwrap_err().code, "BadRequest");
    }

    #[test]
    fn select_and_paging_helpers() {
        let known = vec!["id".to_owned(), "appId".to_owned()];
        assert_eq!(parse_select("APPID,id", &known, "t").unwrap(), ["appId", "id"]);
        assert!(parse_select("nope", &known, "t").is_err());
        assert_eq!(parse_skiptoken(&skiptoken(250)).unwrap(), 250);
        assert!(parse_skiptoken("abc").is_err());
        assert_eq!(parse_top("999").unwrap(), 999);
        assert!(parse_top("1000").is_err());
        assert!(parse_top("0").is_err());
    }
}
