//! Access tokens issued by the token service, on the mock clock, and the `encryption`
//! values already spent (A9.1). One short-held lock; nothing here blocks.

use std::collections::{HashMap, HashSet, VecDeque};

use parking_lot::Mutex;

/// A token lives two hours (A9.1).
pub const TOKEN_LIFETIME_MS: i64 = 7_200_000;

/// How many spent `encryption` values are remembered. Older ones would also fail the
/// timestamp window, unless the clock was moved back; a bound keeps memory flat under load.
const SPENT_MEMORY: usize = 10_000;

/// The two token-service calls. Each remembers its own spent values, so that a client
/// that gets and at once refreshes (as Envision's Java client does) within one
/// millisecond is not taken for a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenCall {
    Get,
    Refresh,
}

/// A token as the service answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub access_token: String,
    /// Remaining lifetime in whole seconds, rounded up.
    pub expire_seconds: i64,
}

/// What a token presented on a business call is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Live, issued to this appKey.
    Live(String),
    Expired,
    Unknown,
}

/// Why a refresh was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshRefused {
    /// The app's current token, but its lifetime is over (1203).
    Expired,
    /// Not the app's current token (1204).
    NotIssued,
}

#[derive(Debug)]
struct Entry {
    token: String,
    expires_ms: i64,
}

impl Entry {
    fn issued(&self, now_ms: i64) -> Issued {
        let remaining_ms = (self.expires_ms - now_ms).max(0);
        Issued {
            access_token: self.token.clone(),
            expire_seconds: (remaining_ms + 999) / 1000,
        }
    }
}

#[derive(Debug, Default)]
struct Table {
    /// The current token of each app: one per app, as EnOS hands out.
    by_app: HashMap<String, Entry>,
    /// token → appKey, for the current tokens only.
    by_token: HashMap<String, String>,
    spent: HashSet<(TokenCall, String)>,
    spent_order: VecDeque<(TokenCall, String)>,
}

impl Table {
    fn replace(&mut self, app_key: &str, now_ms: i64) -> Issued {
        let entry = Entry {
            token: uuid::Uuid::new_v4().simple().to_string(),
            expires_ms: now_ms.saturating_add(TOKEN_LIFETIME_MS),
        };
        let issued = entry.issued(now_ms);
        if let Some(old) = self.by_app.insert(app_key.to_string(), entry) {
            self.by_token.remove(&old.token);
        }
        self.by_token
            .insert(issued.access_token.clone(), app_key.to_string());
        issued
    }
}

#[derive(Debug, Default)]
pub struct Tokens {
    table: Mutex<Table>,
}

impl Tokens {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an `encryption` as spent; false when it already was (1001).
    pub fn spend(&self, call: TokenCall, encryption: &str) -> bool {
        let mut s = self.table.lock();
        let entry = (call, encryption.to_string());
        if !s.spent.insert(entry.clone()) {
            return false;
        }
        s.spent_order.push_back(entry);
        if s.spent_order.len() > SPENT_MEMORY {
            if let Some(oldest) = s.spent_order.pop_front() {
                s.spent.remove(&oldest);
            }
        }
        true
    }

    /// The app's live token with its remaining lifetime, or a new one.
    pub fn get(&self, app_key: &str, now_ms: i64) -> Issued {
        let mut s = self.table.lock();
        match s.by_app.get(app_key) {
            Some(entry) if entry.expires_ms > now_ms => entry.issued(now_ms),
            _ => s.replace(app_key, now_ms),
        }
    }

    /// A new token with a full lifetime in place of the app's live current one; the
    /// old token stops working.
    pub fn refresh(
        &self,
        app_key: &str,
        token: &str,
        now_ms: i64,
    ) -> Result<Issued, RefreshRefused> {
        let mut s = self.table.lock();
        match s.by_app.get(app_key) {
            Some(entry) if entry.token == token => {
                if entry.expires_ms <= now_ms {
                    Err(RefreshRefused::Expired)
                } else {
                    Ok(s.replace(app_key, now_ms))
                }
            }
            _ => Err(RefreshRefused::NotIssued),
        }
    }

    pub fn lookup(&self, token: &str, now_ms: i64) -> Lookup {
        let s = self.table.lock();
        let Some(app_key) = s.by_token.get(token) else {
            return Lookup::Unknown;
        };
        match s.by_app.get(app_key) {
            Some(entry) if entry.expires_ms > now_ms => Lookup::Live(app_key.clone()),
            _ => Lookup::Expired,
        }
    }

    /// Forgets every token and spent value (control-plane reset).
    pub fn clear(&self) {
        *self.table.lock() = Table::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn asking_again_returns_the_same_token_with_its_remaining_seconds() {
        let t = Tokens::new();
        let first = t.get("app", T0);
        assert_eq!(first.expire_seconds, 7200);
        let again = t.get("app", T0 + 100_500);
        assert_eq!(again.access_token, first.access_token);
        assert_eq!(again.expire_seconds, 7100);
        assert_eq!(
            t.lookup(&first.access_token, T0 + 1),
            Lookup::Live("app".into())
        );
    }

    #[test]
    fn an_expired_token_is_replaced_on_get_and_refused_on_refresh() {
        let t = Tokens::new();
        let first = t.get("app", T0);
        let later = T0 + TOKEN_LIFETIME_MS;
        assert_eq!(t.lookup(&first.access_token, later), Lookup::Expired);
        assert_eq!(
            t.refresh("app", &first.access_token, later),
            Err(RefreshRefused::Expired)
        );
        let second = t.get("app", later);
        assert_ne!(second.access_token, first.access_token);
        assert_eq!(t.lookup(&first.access_token, later), Lookup::Unknown);
    }

    #[test]
    fn refresh_replaces_a_live_token() {
        let t = Tokens::new();
        let first = t.get("app", T0);
        let refreshed = t.refresh("app", &first.access_token, T0 + 5_000).unwrap();
        assert_ne!(refreshed.access_token, first.access_token);
        assert_eq!(refreshed.expire_seconds, 7200);
        assert_eq!(t.lookup(&first.access_token, T0 + 6_000), Lookup::Unknown);
        assert_eq!(
            t.refresh("app", "not-a-token", T0),
            Err(RefreshRefused::NotIssued)
        );
        assert_eq!(
            t.refresh("other", &refreshed.access_token, T0),
            Err(RefreshRefused::NotIssued)
        );
    }

    #[test]
    fn spent_values_are_remembered_per_call_and_bounded() {
        let t = Tokens::new();
        assert!(t.spend(TokenCall::Get, "e1"));
        assert!(!t.spend(TokenCall::Get, "e1"));
        assert!(t.spend(TokenCall::Refresh, "e1"));
        for i in 0..SPENT_MEMORY {
            t.spend(TokenCall::Get, &format!("x{i}"));
        }
        // The oldest fell out of the bounded memory.
        assert!(t.spend(TokenCall::Get, "e1"));
        t.clear();
        assert!(t.spend(TokenCall::Refresh, "e1"));
    }
}
