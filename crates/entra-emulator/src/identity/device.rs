//! Pending device-code sign-ins (RFC 8628 as Entra serves it, `v2-oauth2-device-code.md`): the
//! codes handed out by `/devicecode`, their approval or denial, and what a poll of the token
//! endpoint gets. Pure apart from drawing random codes: the caller passes the clock.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rand::Rng;

use super::error::OAuthError;

/// Where a device-code sign-in stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceState {
    Pending,
    /// The user (by object id) signed in and consented.
    Approved(String),
    Declined,
    /// A Conditional Access policy blocked the user's sign-in (AADSTS53003).
    Blocked,
    /// A token was issued; the code cannot be used again.
    Redeemed,
}

/// One sign-in started at `/devicecode`.
#[derive(Debug, Clone)]
pub struct DeviceAuth {
    pub device_code: String,
    pub user_code: String,
    pub client_id: String,
    pub scope: String,
    pub expires_at: DateTime<Utc>,
    pub state: DeviceState,
}

/// Every device code issued since start, by device code.
#[derive(Debug, Default)]
pub struct DeviceCodes {
    by_device_code: HashMap<String, DeviceAuth>,
}

/// What a poll found: the user to issue a token for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    pub user_id: String,
    pub scope: String,
}

impl DeviceCodes {
    /// Starts a sign-in; returns the new entry.
    pub fn start(&mut self, client_id: &str, scope: &str, expires_at: DateTime<Utc>) -> DeviceAuth {
        let auth = DeviceAuth {
            device_code: device_code(),
            user_code: self.fresh_user_code(),
            client_id: client_id.to_owned(),
            scope: scope.to_owned(),
            expires_at,
            state: DeviceState::Pending,
        };
        self.by_device_code.insert(auth.device_code.clone(), auth.clone());
        auth
    }

    fn fresh_user_code(&self) -> String {
        loop {
            let code = user_code();
            if !self.by_device_code.values().any(|a| a.user_code == code) {
                return code;
            }
        }
    }

    fn by_user_code(&mut self, user_code: &str) -> Option<&mut DeviceAuth> {
        self.by_device_code
            .values_mut()
            .find(|a| a.user_code.eq_ignore_ascii_case(user_code.trim()))
    }

    /// The user (`user_id`) approves the sign-in with this user code. `Err` names why not:
    /// unknown code, or one already decided or expired.
    pub fn approve(&mut self, user_code: &str, user_id: &str, now: DateTime<Utc>) -> Result<(), Decision> {
        self.decide(user_code, now, DeviceState::Approved(user_id.to_owned()))
    }

    /// The client and scope of the pending sign-in with this user code (the device login page).
    pub fn pending(&mut self, user_code: &str, now: DateTime<Utc>) -> Option<(String, String)> {
        let auth = self.by_user_code(user_code)?;
        (auth.state == DeviceState::Pending && now < auth.expires_at)
            .then(|| (auth.client_id.clone(), auth.scope.clone()))
    }

    /// A Conditional Access policy blocked the user who signed in for this user code.
    pub fn block(&mut self, user_code: &str, now: DateTime<Utc>) -> Result<(), Decision> {
        self.decide(user_code, now, DeviceState::Blocked)
    }

    /// The user declines the sign-in with this user code.
    pub fn deny(&mut self, user_code: &str, now: DateTime<Utc>) -> Result<(), Decision> {
        self.decide(user_code, now, DeviceState::Declined)
    }

    fn decide(&mut self, user_code: &str, now: DateTime<Utc>, to: DeviceState) -> Result<(), Decision> {
        let auth = self.by_user_code(user_code).ok_or(Decision::UnknownCode)?;
        if now >= auth.expires_at {
            return Err(Decision::Expired);
        }
        if auth.state != DeviceState::Pending {
            return Err(Decision::AlreadyDecided);
        }
        auth.state = to;
        Ok(())
    }

    /// A poll of the token endpoint with `device_code` by `client_id`. Pending codes are
    /// approved on the spot as `auto_approve_as` when given (the emulator's default: the
    /// administrator approves at the first poll).
    pub fn poll(
        &mut self,
        device_code: &str,
        client_id: &str,
        now: DateTime<Utc>,
        auto_approve_as: Option<&str>,
    ) -> Result<Approved, OAuthError> {
        let auth = self
            .by_device_code
            .get_mut(device_code)
            .ok_or_else(OAuthError::bad_verification_code)?;
        if !auth.client_id.eq_ignore_ascii_case(client_id) {
            return Err(OAuthError::device_code_other_client());
        }
        if now >= auth.expires_at && auth.state != DeviceState::Redeemed {
            return Err(OAuthError::device_code_expired());
        }
        if auth.state == DeviceState::Pending
            && let Some(user) = auto_approve_as
        {
            auth.state = DeviceState::Approved(user.to_owned());
        }
        match &auth.state {
            DeviceState::Pending => Err(OAuthError::authorization_pending()),
            DeviceState::Declined => Err(OAuthError::authorization_declined()),
            DeviceState::Blocked => Err(OAuthError {
                error: "invalid_grant",
                ..OAuthError::blocked_by_conditional_access()
            }),
            DeviceState::Redeemed => Err(OAuthError::device_code_redeemed()),
            DeviceState::Approved(user) => Ok(Approved {
                user_id: user.clone(),
                scope: auth.scope.clone(),
            }),
        }
    }

    /// A token was issued for this code.
    pub fn redeemed(&mut self, device_code: &str) {
        if let Some(auth) = self.by_device_code.get_mut(device_code) {
            auth.state = DeviceState::Redeemed;
        }
    }

    /// Forgets codes that expired more than an hour ago, so the table does not grow forever.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        self.by_device_code
            .retain(|_, a| now - a.expires_at < chrono::Duration::hours(1));
    }
}

/// Why an approval or denial did not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    UnknownCode,
    AlreadyDecided,
    Expired,
}

/// A user code like Entra's (`A62NXK96N`, docs/graph-notes.md §7): nine
/// characters, upper-case letters and digits without look-alikes.
fn user_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..9)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// An opaque device code: 48 random bytes, base64url.
fn device_code() -> String {
    use base64::Engine as _;
    let bytes: [u8; 48] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn pending_then_approved_then_redeemed() {
        let mut codes = DeviceCodes::default();
        let auth = codes.start("client", "openid", at(900));
        assert_eq!(auth.user_code.len(), 9);
        assert_eq!(
            codes
                .poll(&auth.device_code, "client", at(1), None)
                .unwrap_err()
                .error,
            "authorization_pending"
        );
        assert_eq!(
            codes
                .poll(&auth.device_code, "other", at(1), None)
                .unwrap_err()
                .code,
            70002
        );
        codes
            .approve(&auth.user_code.to_lowercase(), "user-1", at(2))
            .unwrap();
        assert_eq!(
            codes.approve(&auth.user_code, "user-1", at(2)),
            Err(Decision::AlreadyDecided)
        );
        let ok = codes.poll(&auth.device_code, "client", at(3), None).unwrap();
        assert_eq!(ok.user_id, "user-1");
        codes.redeemed(&auth.device_code);
        assert_eq!(
            codes
                .poll(&auth.device_code, "client", at(4), None)
                .unwrap_err()
                .code,
            90120
        );
    }

    #[test]
    fn auto_approval_declined_expired_and_unknown() {
        let mut codes = DeviceCodes::default();
        let a = codes.start("c", "s", at(900));
        assert_eq!(
            codes
                .poll(&a.device_code, "c", at(1), Some("admin"))
                .unwrap()
                .user_id,
            "admin"
        );

        let d = codes.start("c", "s", at(900));
        codes.deny(&d.user_code, at(1)).unwrap();
        let e = codes.poll(&d.device_code, "c", at(2), Some("admin")).unwrap_err();
        assert_eq!((e.error, e.code), ("authorization_declined", 65004));

        let x = codes.start("c", "s", at(10));
        let e = codes
            .poll(&x.device_code, "c", at(10), Some("admin"))
            .unwrap_err();
        assert_eq!((e.error, e.code), ("expired_token", 70019));
        assert_eq!(codes.approve(&x.user_code, "u", at(11)), Err(Decision::Expired));

        let e = codes.poll("nope", "c", at(1), None).unwrap_err();
        assert_eq!((e.error, e.code), ("bad_verification_code", 70018));
        assert_eq!(codes.deny("ZZZZZZZZZ", at(1)), Err(Decision::UnknownCode));

        codes.prune(at(10 + 7200));
        assert_eq!(
            codes.poll(&x.device_code, "c", at(7300), None).unwrap_err().code,
            70018
        );
    }
}
