//! The token service (A9.1): `token/get` and `token/refresh`, their checks in order,
//! each failure a row of the error catalogue.

use crate::domain::errors::{EnosError, ErrorKey};

use super::signature;
use super::tokens::{Issued, RefreshRefused, TokenCall};
use super::Gateway;

/// A token-service request body, every field as the text the client sent (a numeric
/// `timestamp` in its decimal form); absent fields are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenRequest {
    pub app_key: String,
    pub encryption: String,
    pub timestamp: String,
    /// Refresh only.
    pub access_token: String,
}

fn empty(field: &str) -> EnosError {
    EnosError::with(ErrorKey::TokenParamEmpty, &[("field", field)])
}

fn invalid(reason: &str) -> EnosError {
    EnosError::with(ErrorKey::TokenParamInvalid, &[("reason", reason)])
}

impl Gateway {
    pub fn token_get(
        &self,
        apps: &dyn super::Apps,
        now_ms: i64,
        request: &TokenRequest,
    ) -> Result<Issued, EnosError> {
        let app_key = self.token_checks(apps, now_ms, request, TokenCall::Get)?;
        Ok(self.tokens.get(&app_key, now_ms))
    }

    pub fn token_refresh(
        &self,
        apps: &dyn super::Apps,
        now_ms: i64,
        request: &TokenRequest,
    ) -> Result<Issued, EnosError> {
        let app_key = self.token_checks(apps, now_ms, request, TokenCall::Refresh)?;
        self.tokens
            .refresh(&app_key, request.access_token.trim(), now_ms)
            .map_err(|refused| {
                EnosError::new(match refused {
                    RefreshRefused::Expired => ErrorKey::TokenExpired,
                    RefreshRefused::NotIssued => ErrorKey::TokenRefreshFailed,
                })
            })
    }

    /// Empty fields (1202), the timestamp's form and window (1004), the appKey (1002),
    /// the encryption (1003), then whether it was spent before (1001). Returns the appKey.
    fn token_checks(
        &self,
        apps: &dyn super::Apps,
        now_ms: i64,
        r: &TokenRequest,
        call: TokenCall,
    ) -> Result<String, EnosError> {
        let mut fields = vec![
            ("appKey", &r.app_key),
            ("encryption", &r.encryption),
            ("timestamp", &r.timestamp),
        ];
        if call == TokenCall::Refresh {
            fields.push(("accessToken", &r.access_token));
        }
        if let Some((name, _)) = fields.iter().find(|(_, v)| v.trim().is_empty()) {
            return Err(empty(name));
        }
        let timestamp_ms: i64 = r
            .timestamp
            .trim()
            .parse()
            .map_err(|_| invalid("timestamp must be epoch milliseconds"))?;
        if !self.fresh(timestamp_ms, now_ms) {
            return Err(invalid(&format!(
                "timestamp is more than {} minutes away from the server time",
                self.window_ms / 60_000
            )));
        }
        let (_, app) = apps
            .app(&r.app_key)
            .ok_or_else(|| EnosError::new(ErrorKey::TokenAppKeyUnknown))?;
        let expected = signature::encryption(&r.app_key, &r.timestamp, &app.app_secret);
        if !signature::digest_matches(&expected, &r.encryption) {
            return Err(EnosError::new(ErrorKey::TokenEncryptionInvalid));
        }
        if !self.tokens.spend(call, &expected) {
            return Err(EnosError::new(ErrorKey::TokenEncryptionReplayed));
        }
        Ok(app.app_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::poseidon::PoseidonKey;
    use crate::auth::AuthMode;
    use crate::domain::fixtures::Fixtures;
    use crate::domain::store::Store;

    const KEY: &str = "4ae5a7f2-0c3d-4b7e-9f21-d65c0a8b1e93";
    const SECRET: &str = "9c1d2e3f-4a5b-46c7-8d9e-0f1a2b3c4d5e";
    const NOW: i64 = 1_700_000_000_000;

    fn setup() -> (Gateway, Store) {
        let fixtures = Fixtures::parse(crate::DEFAULT_FIXTURES).unwrap();
        let store = Store::new(&fixtures.load(0).unwrap(), crate::domain::Serial::new(1000));
        let key = PoseidonKey::from_pem(crate::auth::poseidon::DEFAULT_POSEIDON_KEY).unwrap();
        (Gateway::new(AuthMode::Strict, 15, key), store)
    }

    fn request(timestamp: i64) -> TokenRequest {
        let timestamp = timestamp.to_string();
        TokenRequest {
            app_key: KEY.into(),
            encryption: signature::encryption(KEY, &timestamp, SECRET),
            timestamp,
            access_token: String::new(),
        }
    }

    fn code(r: Result<Issued, EnosError>) -> i64 {
        r.map(|_| 0).unwrap_or_else(|e| e.code())
    }

    #[test]
    fn each_status_in_check_order() {
        let (g, store) = setup();
        let get = |r: &TokenRequest| code(g.token_get(&store, NOW, r));
        assert_eq!(get(&request(NOW)), 0);
        assert_eq!(get(&request(NOW)), 1001);
        let mut r = request(NOW + 1);
        r.app_key = "nobody-0000".into();
        assert_eq!(get(&r), 1002);
        let mut r = request(NOW + 2);
        r.encryption = "00".repeat(32);
        assert_eq!(get(&r), 1003);
        assert_eq!(get(&request(NOW - 16 * 60_000)), 1004);
        let mut r = request(NOW);
        r.timestamp = "yesterday".into();
        assert_eq!(get(&r), 1004);
        let mut r = request(NOW);
        r.encryption = " ".into();
        let e = g.token_get(&store, NOW, &r).unwrap_err();
        assert_eq!(
            (e.code(), e.msg.as_str()),
            (1202, "Parameter is empty: encryption")
        );
    }

    #[test]
    fn refresh_needs_the_live_current_token() {
        let (g, store) = setup();
        let issued = g.token_get(&store, NOW, &request(NOW)).unwrap();
        let mut r = request(NOW + 1);
        assert_eq!(code(g.token_refresh(&store, NOW, &r)), 1202);
        r.access_token = "made-up".into();
        assert_eq!(code(g.token_refresh(&store, NOW, &r)), 1204);
        let later = NOW + 7_200_000;
        let mut r = request(later);
        r.access_token = issued.access_token.clone();
        assert_eq!(code(g.token_refresh(&store, later, &r)), 1203);
        let mut r = request(NOW + 2);
        r.access_token = issued.access_token;
        let refreshed = g.token_refresh(&store, NOW, &r).unwrap();
        assert_eq!(refreshed.expire_seconds, 7200);
    }
}
