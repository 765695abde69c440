//! Gateway authentication as EnOS does it (A9, B10): the token service, signed calls and
//! Poseidon SDK tokens, under one of three modes. No HTTP here: the API layer hands in
//! the headers, raw query and raw body it received and gets back who is calling.

pub mod poseidon;
pub mod refusal_log;
mod replay;
pub mod signature;
mod token_service;
pub mod tokens;

use std::fmt;

use serde::Serialize;

use crate::domain::model::{Application, CallerApp};
use crate::domain::store::Store;
use poseidon::PoseidonKey;
use refusal_log::RefusalLog;
use replay::Replays;
use tokens::{Lookup, Tokens};

pub use token_service::TokenRequest;

/// Where the gateway finds an app by its appKey: the core ([`crate::service::Service`]),
/// or a bare store in unit tests.
pub trait Apps {
    /// The app with this appKey and the org it belongs to (an appKey names one app, B1).
    fn app(&self, app_key: &str) -> Option<(String, Application)>;
}

impl Apps for Store {
    fn app(&self, app_key: &str) -> Option<(String, Application)> {
        Store::app(self, app_key)
    }
}

/// How much the gateway checks (B10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// No checks at all.
    Off,
    /// A business call needs a non-empty `apim-accesstoken`; a signature, when sent, is verified.
    Lenient,
    /// A valid signature, or a Poseidon token that opens with the mock's key and names a known app.
    Strict,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Off => "off",
            AuthMode::Lenient => "lenient",
            AuthMode::Strict => "strict",
        }
    }

    /// One line for the start-up log and `--help`.
    pub fn describe(self) -> &'static str {
        match self {
            AuthMode::Off => "no checks on business calls",
            AuthMode::Lenient => {
                "business calls need apim-accesstoken; apim-signature is verified when sent"
            }
            AuthMode::Strict => {
                "business calls need a valid apim-signature or a Poseidon token that opens with the mock's key"
            }
        }
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a business call brought, exactly as received.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    pub access_token: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub raw_query: &'a str,
    pub body: &'a [u8],
}

/// Why a call was refused. Clients only ever see the gateway's one 401 answer; the
/// reason goes to the log, where whoever debugs a client looks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    NoToken,
    NoTimestamp,
    StaleTimestamp,
    UnknownToken,
    ExpiredToken,
    AppGone,
    BadSignature,
    Replayed,
    NotPoseidon,
    UnknownPoseidonApp,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Denied::NoToken => "no apim-accesstoken header",
            Denied::NoTimestamp => "apim-signature without a numeric apim-timestamp",
            Denied::StaleTimestamp => "apim-timestamp is outside the window around the mock clock",
            Denied::UnknownToken => {
                "the access token was not issued by the token service (or was replaced)"
            }
            Denied::ExpiredToken => "the access token has expired on the mock clock",
            Denied::AppGone => "the token's app no longer exists",
            Denied::BadSignature => "apim-signature does not match the request",
            Denied::Replayed => {
                "the same signed call (token, timestamp, signature) was already accepted"
            }
            Denied::NotPoseidon => {
                "unsigned call, and the token is not a Poseidon token for the mock's key"
            }
            Denied::UnknownPoseidonApp => "the Poseidon token names no known appKey/appSecret pair",
        })
    }
}

/// The gateway: its mode, the token service's state and the key for Poseidon tokens.
#[derive(Debug)]
pub struct Gateway {
    mode: AuthMode,
    window_ms: i64,
    tokens: Tokens,
    replays: Replays,
    poseidon: PoseidonKey,
    refusal_log: RefusalLog,
}

impl Gateway {
    /// `window_minutes`: how far a token-service `timestamp` or an `apim-timestamp` may be
    /// from the mock clock (B14).
    pub fn new(mode: AuthMode, window_minutes: u32, poseidon: PoseidonKey) -> Self {
        Gateway {
            mode,
            window_ms: i64::from(window_minutes) * 60_000,
            tokens: Tokens::new(),
            replays: Replays::default(),
            poseidon,
            refusal_log: RefusalLog::default(),
        }
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// The limit on the log lines of refused calls.
    pub fn refusal_log(&self) -> &RefusalLog {
        &self.refusal_log
    }

    /// Tokens and spent encryptions forgotten (control-plane reset).
    pub fn reset(&self) {
        self.tokens.clear();
        self.replays.clear();
    }

    fn fresh(&self, timestamp_ms: i64, now_ms: i64) -> bool {
        timestamp_ms.abs_diff(now_ms) <= self.window_ms.unsigned_abs()
    }

    /// Judges a business call. `Ok(None)`: let it through without a known app (off, or a
    /// lenient call whose token names nobody); `Ok(Some)`: the app it comes from.
    pub fn check(
        &self,
        apps: &dyn Apps,
        now_ms: i64,
        c: &Credentials<'_>,
    ) -> Result<Option<CallerApp>, Denied> {
        if self.mode == AuthMode::Off {
            return Ok(None);
        }
        let token = c
            .access_token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(Denied::NoToken)?;
        if let Some(signature) = c.signature.map(str::trim).filter(|s| !s.is_empty()) {
            return self
                .check_signed(apps, now_ms, token, signature, c)
                .map(Some);
        }
        match self.mode {
            AuthMode::Strict => self.open_poseidon(apps, token).map(Some),
            // Lenient accepts any token, and still names the app when it can.
            _ => Ok(self.identify(apps, now_ms, token)),
        }
    }

    /// A9.2: fresh timestamp, live token, and the signature over the exact request.
    fn check_signed(
        &self,
        apps: &dyn Apps,
        now_ms: i64,
        token: &str,
        signature: &str,
        c: &Credentials<'_>,
    ) -> Result<CallerApp, Denied> {
        let timestamp = c.timestamp.map(str::trim).unwrap_or_default();
        let timestamp_ms: i64 = timestamp.parse().map_err(|_| Denied::NoTimestamp)?;
        if !self.fresh(timestamp_ms, now_ms) {
            return Err(Denied::StaleTimestamp);
        }
        let app_key = match self.tokens.lookup(token, now_ms) {
            Lookup::Live(app_key) => app_key,
            Lookup::Expired => return Err(Denied::ExpiredToken),
            Lookup::Unknown => return Err(Denied::UnknownToken),
        };
        let (org_id, app) = apps.app(&app_key).ok_or(Denied::AppGone)?;
        let expected = signature::sign(token, c.raw_query, c.body, timestamp, &app.app_secret);
        if !signature::digest_matches(&expected, signature) {
            return Err(Denied::BadSignature);
        }
        // Lenient mode lets a replay through: clients under test retry a call with the
        // same headers, and lenient is the mode that forgives the client.
        if self.mode == AuthMode::Strict
            && !self
                .replays
                .first_use(timestamp_ms, &expected, now_ms, self.window_ms)
        {
            return Err(Denied::Replayed);
        }
        Ok(CallerApp { app_key, org_id })
    }

    /// A9.3: the token opens with the mock's key and names a known app with its secret.
    fn open_poseidon(&self, apps: &dyn Apps, token: &str) -> Result<CallerApp, Denied> {
        let claims = self.poseidon.open(token).ok_or(Denied::NotPoseidon)?;
        let (org_id, app) = apps
            .app(&claims.app_key)
            .ok_or(Denied::UnknownPoseidonApp)?;
        if !signature::same_secret(&app.app_secret, &claims.app_secret) {
            return Err(Denied::UnknownPoseidonApp);
        }
        Ok(CallerApp {
            app_key: app.app_key,
            org_id,
        })
    }

    /// Lenient and unsigned: a live token of the token service, or a Poseidon token
    /// the mock can open, still tells who is calling.
    fn identify(&self, apps: &dyn Apps, now_ms: i64, token: &str) -> Option<CallerApp> {
        if let Lookup::Live(app_key) = self.tokens.lookup(token, now_ms) {
            return apps.app(&app_key).map(|(org_id, app)| CallerApp {
                app_key: app.app_key,
                org_id,
            });
        }
        self.open_poseidon(apps, token).ok()
    }
}
