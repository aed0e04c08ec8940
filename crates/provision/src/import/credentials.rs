//! Passwords and certificates of an imported registration as `[[app.passwords]]` and
//! `[[app.certificates]]` keys (issue 17): by display name and end date, certificates by
//! thumbprint; never a value (Graph returns none). When the manifest cannot name them one by one
//! (a credential without a display name, two with the same one, a key credential that is not a
//! `Verify` certificate), none of that kind is written as keys, so plan and apply leave them all
//! alone, and a comment lists them.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{plain, toml_str};

/// The manifest text for the credentials, and the "left alone" lines for those it cannot hold.
pub(super) struct Written {
    pub text: String,
    pub left_alone: Vec<String>,
}

fn nameable(list: &[Value]) -> bool {
    let mut seen = BTreeSet::new();
    list.iter().all(|c| {
        c["displayName"]
            .as_str()
            .is_some_and(|n| !n.trim().is_empty() && seen.insert(n.to_owned()))
    })
}

/// A Graph date at seconds precision, as `end_date` holds it.
fn end_date(c: &Value) -> Option<String> {
    let end = c["endDateTime"].as_str()?;
    crate::credentials::graph_date(end).map(crate::credentials::date_text)
}

fn thumbprint(c: &Value) -> Option<String> {
    let t = c["customKeyIdentifier"].as_str()?.to_ascii_uppercase();
    (t.len() == 40 && t.chars().all(|c| c.is_ascii_hexdigit())).then_some(t)
}

pub(super) fn write(
    passwords: &[Value],
    keys: &[Value],
    describe: impl Fn(&Value, bool) -> String,
) -> Written {
    let mut text = String::new();
    let mut left_alone = Vec::new();
    if !passwords.is_empty() {
        if nameable(passwords) {
            for p in passwords {
                text.push_str("\n[[app.passwords]]\n");
                text.push_str(&format!(
                    "display_name = {}\n",
                    toml_str(p["displayName"].as_str().unwrap_or_default())
                ));
                if let Some(end) = end_date(p) {
                    text.push_str(&format!("end_date = {}\n", toml_str(&end)));
                }
                if let Some(k) = p["keyId"].as_str() {
                    text.push_str(&format!("# keyId {}\n", plain(k)));
                }
                text.push_str(
                    "# Graph never returns a password's value, so this one is kept as it is. Remove the next\n\
                     # line to have apply replace it with a new password whose value goes to the output file.\n\
                     secret_in_output = false\n",
                );
            }
        } else {
            left_alone.push(format!(
                "client secrets (values never shown; without a display name each, or with one twice, so the manifest cannot name them): {}",
                passwords.iter().map(|p| describe(p, false)).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    if !keys.is_empty() {
        let certificates = keys.iter().all(|k| {
            k["type"].as_str() == Some("AsymmetricX509Cert")
                && k["usage"].as_str() == Some("Verify")
                && thumbprint(k).is_some()
        });
        if certificates && nameable(keys) {
            for k in keys {
                text.push_str("\n[[app.certificates]]\n");
                text.push_str(&format!(
                    "display_name = {}\n",
                    toml_str(k["displayName"].as_str().unwrap_or_default())
                ));
                text.push_str(&format!(
                    "thumbprint = {}\n",
                    toml_str(&thumbprint(k).unwrap_or_default())
                ));
                let mut about = Vec::new();
                if let Some(id) = k["keyId"].as_str() {
                    about.push(format!("keyId {id}"));
                }
                if let Some(end) = end_date(k) {
                    about.push(format!("expires {end}"));
                }
                if !about.is_empty() {
                    text.push_str(&format!("# {}\n", plain(&about.join(", "))));
                }
            }
        } else {
            left_alone.push(format!(
                "certificates (not all `Verify` certificates with a thumbprint and a display name of their own): {}",
                keys.iter().map(|k| describe(k, true)).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    Written { text, left_alone }
}
