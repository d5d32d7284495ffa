//! The JWT slurmrestd wants on every request, and keeping it fresh.
//!
//! slurmrestd answers a request with an expired token with a vague 500, which
//! is indistinguishable from a cluster in trouble; so the token's `exp` claim
//! is read (without verifying the signature: that is slurmctld's job) and the
//! token is renewed before it expires. A token from a file is read again
//! whenever the file changes or the token is within [`REFRESH_MARGIN_S`] of
//! expiring, so a cron job running `scontrol token lifespan=...` into that
//! file keeps gigafleet authenticated; a token from an environment variable
//! is fixed for the server's life and, once expired, every call answers
//! unavailable with a message that says so.

use std::path::PathBuf;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Seconds before expiry at which a token file is read again.
pub const REFRESH_MARGIN_S: i64 = 300;

/// Where the token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// A token given once (read from `token_env` when the backend is built).
    Fixed {
        /// The JWT.
        token: String,
        /// Where it came from, for messages (`$SLURM_JWT`).
        origin: String,
    },
    /// A file holding the token, read again when it changes or nears expiry.
    File(PathBuf),
}

/// The `exp` claim of a JWT, seconds since the epoch, if it has one.
pub fn expiry(jwt: &str) -> Option<i64> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("exp")?.as_i64()
}

/// A token source and the token last read from it.
#[derive(Debug)]
pub(crate) struct Token {
    source: TokenSource,
    current: Option<Current>,
}

#[derive(Debug)]
struct Current {
    token: String,
    exp: Option<i64>,
    mtime: Option<SystemTime>,
}

impl Token {
    pub(crate) fn new(source: TokenSource) -> Token {
        Token {
            source,
            current: None,
        }
    }

    /// The token to send at `now`, or why there is none that works.
    pub(crate) fn get(&mut self, now: i64) -> Result<&str, String> {
        match &self.source {
            TokenSource::Fixed { token, origin } => {
                if let Some(exp) = expiry(token)
                    && exp <= now
                {
                    return Err(format!(
                        "the Slurm token from {origin} expired at {exp} (now {now}); give a fresh one, or use token_file so it can be renewed while running"
                    ));
                }
                Ok(token)
            }
            TokenSource::File(path) => {
                let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
                let stale = match &self.current {
                    None => true,
                    Some(c) => {
                        c.mtime != mtime || c.exp.is_some_and(|e| e - now <= REFRESH_MARGIN_S)
                    }
                };
                if stale {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        format!("cannot read the Slurm token file {}: {e}", path.display())
                    })?;
                    // `scontrol token` prints `SLURM_JWT=...`; the bare token is accepted too.
                    let token = text.trim().trim_start_matches("SLURM_JWT=").to_string();
                    self.current = Some(Current {
                        exp: expiry(&token),
                        token,
                        mtime,
                    });
                }
                let c = self.current.as_ref().expect("read just above");
                if let Some(exp) = c.exp
                    && exp <= now
                {
                    return Err(format!(
                        "the Slurm token in {} expired at {exp} (now {now}); write a fresh one with `scontrol token lifespan=...`",
                        path.display()
                    ));
                }
                Ok(&c.token)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(exp: i64) -> String {
        let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{exp},"iat":1,"sun":"gf"}}"#));
        format!("eyJhbGciOiJIUzI1NiJ9.{claims}.c2ln")
    }

    #[test]
    fn the_expiry_is_read_from_the_claims() {
        assert_eq!(expiry(&jwt(1_900_000_000)), Some(1_900_000_000));
        assert_eq!(expiry("not-a-jwt"), None);
    }

    #[test]
    fn an_expired_fixed_token_is_refused_with_its_origin() {
        let mut t = Token::new(TokenSource::Fixed {
            token: jwt(100),
            origin: "$SLURM_JWT".into(),
        });
        assert!(t.get(99).is_ok());
        let e = t.get(100).unwrap_err();
        assert!(e.contains("$SLURM_JWT") && e.contains("token_file"), "{e}");
    }

    #[test]
    fn a_token_file_is_read_again_when_it_nears_expiry() {
        let dir = std::env::temp_dir().join(format!("gf-slurm-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, format!("SLURM_JWT={}\n", jwt(1000))).unwrap();
        let mut t = Token::new(TokenSource::File(path.clone()));
        assert_eq!(t.get(0).unwrap(), jwt(1000));
        // Renewed in place (same mtime granularity or not): near expiry the
        // file is read again and the fresh token used.
        std::fs::write(&path, jwt(5000)).unwrap();
        assert_eq!(t.get(900).unwrap(), jwt(5000));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
