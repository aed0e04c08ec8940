//! Why a step is planned, where its action needs explaining: a stable code for programs (JSON
//! `reason_code`) with the text people read beside it (JSON `reason`, and the plan's text). Pure.

use serde::ser::{Serialize, SerializeMap, Serializer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A first-party API's service principal the tenant does not hold yet.
    FirstPartyApiMissing,
    /// An application brought back from deleted items, keeping this appId.
    RestoredFromDeletedItems { app_id: String },
    /// A registration without `uniqueName`, found by the manifest's `app_id`.
    AdoptedByAppId,
    /// A grant on an API the manifest no longer names.
    ApiNoLongerNamed,
    /// `destroy --purge`: removed from deleted items so the unique name is free again.
    PurgeFreesUniqueName,
    /// A password whose value the output file does not hold is replaced.
    PasswordValueNotInOutput,
    /// A password's fixed `end_date` changed: passwords are replaced, never changed.
    PasswordEndDateChanged,
    /// A password within `rotate_before` of its end.
    PasswordRotationDue { end: Option<String> },
    /// A generated certificate is replaced by a newly generated one.
    CertificateRegenerated,
    /// The certificate's PEM file holds another certificate.
    CertificatePemChanged,
    /// An older credential of the same name, left by an earlier rotation.
    OlderCredentialOfSameName,
    /// The credential a new one replaces, removed once the output file holds the new one.
    ReplacedByNewCredential,
    /// A credential the manifest no longer lists.
    CredentialNoLongerListed,
    /// An owner, named beside its address: a user's display name, or a service principal and
    /// its appId (issue 17).
    OwnerDetail { detail: String },
    /// The signed-in identity, an owner the manifest does not list, kept (issue 17).
    SignedInIdentityKept { object_id: String },
    /// Scopes or app roles removed or changed: Graph refuses that while they are enabled, so a
    /// PATCH that only disables them goes first.
    EntitlementsDisabledFirst,
}

impl Reason {
    /// The stable code (snake case; codes are only added within a format version).
    pub fn code(&self) -> &'static str {
        match self {
            Reason::FirstPartyApiMissing => "first_party_api_missing",
            Reason::RestoredFromDeletedItems { .. } => "restored_from_deleted_items",
            Reason::AdoptedByAppId => "adopted_by_app_id",
            Reason::ApiNoLongerNamed => "api_no_longer_named",
            Reason::PurgeFreesUniqueName => "purge_frees_unique_name",
            Reason::PasswordValueNotInOutput => "password_value_not_in_output",
            Reason::PasswordEndDateChanged => "password_end_date_changed",
            Reason::PasswordRotationDue { .. } => "password_rotation_due",
            Reason::CertificateRegenerated => "certificate_regenerated",
            Reason::CertificatePemChanged => "certificate_pem_changed",
            Reason::OlderCredentialOfSameName => "older_credential_of_same_name",
            Reason::ReplacedByNewCredential => "replaced_by_new_credential",
            Reason::CredentialNoLongerListed => "credential_no_longer_listed",
            Reason::OwnerDetail { .. } => "owner_detail",
            Reason::SignedInIdentityKept { .. } => "signed_in_identity_kept",
            Reason::EntitlementsDisabledFirst => "entitlements_disabled_first",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let replaced = "a new one is added, then the old one removed";
        match self {
            Reason::FirstPartyApiMissing => f.write_str("first-party API not yet in the tenant"),
            Reason::RestoredFromDeletedItems { app_id } => write!(f, "appId {app_id}"),
            Reason::AdoptedByAppId => f.write_str("adopted by app_id"),
            Reason::ApiNoLongerNamed => f.write_str("the manifest no longer names this API"),
            Reason::PurgeFreesUniqueName => f.write_str("--purge: the unique name can be used again"),
            Reason::PasswordValueNotInOutput => {
                write!(f, "its value is not in the output file: {replaced}")
            }
            Reason::PasswordEndDateChanged => write!(
                f,
                "`end_date` differs; a password cannot be changed, only replaced: {replaced}"
            ),
            Reason::PasswordRotationDue { end } => write!(
                f,
                "it ends {}, within `rotate_before`: {replaced}",
                end.as_deref().unwrap_or("soon")
            ),
            Reason::CertificateRegenerated => f.write_str("a new certificate is generated"),
            Reason::CertificatePemChanged => f.write_str("the PEM file holds another certificate"),
            Reason::OlderCredentialOfSameName => f.write_str("an older credential of this name"),
            Reason::ReplacedByNewCredential => {
                f.write_str("replaced, once the output file holds the new one")
            }
            Reason::CredentialNoLongerListed => f.write_str("the manifest no longer lists it"),
            Reason::OwnerDetail { detail } => f.write_str(detail),
            Reason::SignedInIdentityKept { object_id } => write!(
                f,
                "the signed-in identity {object_id}: kept although `owners` does not list it"
            ),
            Reason::EntitlementsDisabledFirst => f.write_str(
                "scopes and app roles removed or changed are disabled first, in a PATCH of their own",
            ),
        }
    }
}

/// `"reason": text, "reason_code": code` (flattened into the change that carries it).
impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("reason", &self.to_string())?;
        m.serialize_entry("reason_code", self.code())?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_serialise_beside_the_text() {
        let all = [
            Reason::FirstPartyApiMissing,
            Reason::RestoredFromDeletedItems { app_id: "a".into() },
            Reason::AdoptedByAppId,
            Reason::ApiNoLongerNamed,
            Reason::PurgeFreesUniqueName,
            Reason::PasswordValueNotInOutput,
            Reason::PasswordEndDateChanged,
            Reason::PasswordRotationDue { end: None },
            Reason::CertificateRegenerated,
            Reason::CertificatePemChanged,
            Reason::OlderCredentialOfSameName,
            Reason::ReplacedByNewCredential,
            Reason::CredentialNoLongerListed,
            Reason::OwnerDetail { detail: "d".into() },
            Reason::SignedInIdentityKept {
                object_id: "o".into(),
            },
        ];
        let codes: std::collections::BTreeSet<&str> = all.iter().map(Reason::code).collect();
        assert_eq!(codes.len(), all.len());
        assert_eq!(
            serde_json::to_value(Reason::RestoredFromDeletedItems { app_id: "x".into() }).unwrap(),
            serde_json::json!({"reason": "appId x", "reason_code": "restored_from_deleted_items"})
        );
    }
}
