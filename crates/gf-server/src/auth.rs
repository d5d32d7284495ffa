//! Who is asking: a bearer token's SHA-256 is looked up in the store (only
//! hashes are kept), and what it may do follows from whether it is an
//! admin token or a team's. Secrets are 128 random bits from the operating
//! system. Looked-up tokens are remembered for a few seconds, so a burst of
//! submissions does not read the store once per request; a revocation
//! takes effect within that time.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use gf_api::ErrorCode;
use gf_store::{Store, TokenRow};
use sha2::{Digest, Sha256};

use crate::fail::Fail;

/// How long a looked-up token is trusted without asking the store again.
const REMEMBER: Duration = Duration::from_secs(5);

/// Who a request acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// May do everything, for every team.
    Admin,
    /// May see and change only this team's work.
    Team(String),
}

impl Principal {
    /// Whether this principal may act on work of `team`.
    pub fn may(&self, team: &str) -> bool {
        match self {
            Principal::Admin => true,
            Principal::Team(t) => t == team,
        }
    }

    /// Refuses unless an admin.
    pub fn admin(&self) -> Result<(), Fail> {
        match self {
            Principal::Admin => Ok(()),
            Principal::Team(t) => Err(Fail::new(
                ErrorCode::Forbidden,
                format!("this call needs an admin token; the token given acts for team `{t}`"),
            )),
        }
    }
}

/// A new secret: `gf_` and 32 hex digits (128 random bits).
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)?;
    Ok(format!("gf_{}", hex(&b)))
}

/// Hex SHA-256 of a secret: what the store keeps.
pub fn hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Lowercase hex, written into one string (this runs on every request).
pub(crate) fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(char::from(DIGITS[usize::from(x >> 4)]));
        s.push(char::from(DIGITS[usize::from(x & 0xf)]));
    }
    s
}

/// Tokens looked up lately.
#[derive(Default)]
pub struct TokenCache {
    seen: RwLock<HashMap<String, (Option<Principal>, Instant)>>,
}

impl TokenCache {
    /// Who the request's bearer token acts for: 401 without a valid one.
    pub async fn principal<S: Store>(&self, store: &S, h: &HeaderMap) -> Result<Principal, Fail> {
        let unauthorized = |m: &str| Fail::new(ErrorCode::Unauthorized, m);
        let Some(v) = h.get(AUTHORIZATION) else {
            return Err(unauthorized(
                "no token: send `Authorization: Bearer <token>` (an admin token is printed at first start; `gigafleet token create` makes team tokens)",
            ));
        };
        let v = v.to_str().unwrap_or("");
        let Some(secret) = v.strip_prefix("Bearer ").map(str::trim) else {
            return Err(unauthorized(
                "the Authorization header must be `Bearer <token>`",
            ));
        };
        let key = hash(secret);
        if let Ok(seen) = self.seen.read()
            && let Some((p, at)) = seen.get(&key)
            && at.elapsed() < REMEMBER
        {
            return p
                .clone()
                .ok_or_else(|| unauthorized("unknown or revoked token"));
        }
        let row: Option<TokenRow> = store.token(&key).await?;
        let p = row.filter(|r| !r.revoked).map(|r| match r.team {
            None => Principal::Admin,
            Some(t) => Principal::Team(t),
        });
        if let Ok(mut seen) = self.seen.write() {
            if seen.len() > 100_000 {
                seen.clear();
            }
            seen.insert(key, (p.clone(), Instant::now()));
        }
        p.ok_or_else(|| unauthorized("unknown or revoked token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_128_bits_and_distinct() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_eq!(a.len(), 3 + 32);
        assert_ne!(a, b);
        assert_eq!(hash(&a).len(), 64);
        assert_eq!(hash(&a), hash(&a.clone()));
        assert_eq!(hex(&[0x00, 0x9f, 0xa0, 0xff]), "009fa0ff");
    }
}
