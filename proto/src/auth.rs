//! The shared-token handshake.
//!
//! Agents run whatever requests and SQL a coordinator sends, so both sides
//! must know they talk to the right party. They share a token, but never send
//! it: the agent sends a credential (a timestamp, a fresh nonce and an
//! HMAC-SHA256 of both under the token) as gRPC metadata; the coordinator
//! checks it in constant time, refuses a nonce it has already seen, and
//! answers in its `Welcome` with its own HMAC of the nonce, which the agent
//! checks before it obeys anything.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The metadata key of the agent's credential.
pub const METADATA_KEY: &str = "x-loadlab-auth";

/// How far a credential's clock may be from the coordinator's.
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// The shared secret. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Token(Vec<u8>);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}

/// The token of `--token`, else of `--token-file` (e.g. a mounted secret:
/// its first line, without the line's end), else none. The error says which
/// file and why.
pub fn token_from(
    token: Option<String>,
    file: Option<&std::path::Path>,
) -> Result<Option<String>, String> {
    let (None, Some(path)) = (&token, file) else {
        return Ok(token);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read --token-file {}: {e}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim_end().to_owned();
    if token.is_empty() {
        return Err(format!("--token-file {} is empty", path.display()));
    }
    Ok(Some(token))
}

/// Why a credential or proof was refused; the text is shown to the other side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("a token must not be empty")]
    EmptyToken,
    #[error(
        "this coordinator requires a token: start the agent with --token or LOADLAB_TOKEN set to the coordinator's"
    )]
    Missing,
    #[error("malformed {METADATA_KEY} credential")]
    Malformed,
    #[error("wrong token: the agent's token is not the coordinator's")]
    WrongToken,
    #[error("credential too old or from the future (clocks more than {CLOCK_SKEW:?} apart?)")]
    Stale,
    #[error("credential replayed: its nonce was already used")]
    Replayed,
    #[error(
        "the coordinator did not prove it knows the token (it may run without --token, or be an impostor)"
    )]
    NoProof,
}

impl Token {
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Token, AuthError> {
        let secret = secret.into();
        if secret.is_empty() {
            return Err(AuthError::EmptyToken);
        }
        Ok(Token(secret))
    }

    fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any size");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    /// The agent's credential for one connection attempt, and the nonce the
    /// coordinator's proof must sign.
    pub fn credential(&self) -> (String, Vec<u8>) {
        self.credential_at(crate::unix::now_ms(), uuid::Uuid::new_v4().as_bytes())
    }

    fn credential_at(&self, at_ms: u64, nonce: &[u8]) -> (String, Vec<u8>) {
        let tag = self
            .mac(&[b"agent", &at_ms.to_be_bytes(), nonce])
            .finalize()
            .into_bytes();
        let text = format!("v1 {at_ms} {} {}", B64.encode(nonce), B64.encode(tag));
        (text, nonce.to_vec())
    }

    /// The coordinator's answer to a credential with `nonce`.
    pub fn proof(&self, nonce: &[u8]) -> String {
        B64.encode(self.mac(&[b"coordinator", nonce]).finalize().into_bytes())
    }

    /// Checks the coordinator's `proof` of the agent's `nonce`.
    pub fn check_proof(&self, nonce: &[u8], proof: &str) -> Result<(), AuthError> {
        let tag = B64.decode(proof).map_err(|_| AuthError::NoProof)?;
        self.mac(&[b"coordinator", nonce])
            .verify_slice(&tag)
            .map_err(|_| AuthError::NoProof)
    }
}

/// The coordinator's side: checks credentials and remembers recent nonces.
#[derive(Debug)]
pub struct Verifier {
    token: Token,
    seen: Mutex<HashMap<Vec<u8>, u64>>,
}

impl Verifier {
    pub fn new(token: Token) -> Verifier {
        Verifier {
            token,
            seen: Mutex::default(),
        }
    }

    pub fn token(&self) -> &Token {
        &self.token
    }

    /// Checks an agent's credential (the metadata value, if any) and returns
    /// the nonce to sign in the welcome.
    pub fn verify(&self, credential: Option<&str>) -> Result<Vec<u8>, AuthError> {
        self.verify_at(credential, crate::unix::now_ms())
    }

    fn verify_at(&self, credential: Option<&str>, now_ms: u64) -> Result<Vec<u8>, AuthError> {
        let credential = credential.ok_or(AuthError::Missing)?;
        let mut parts = credential.split(' ');
        let (Some("v1"), Some(at), Some(nonce), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(AuthError::Malformed);
        };
        let at_ms: u64 = at.parse().map_err(|_| AuthError::Malformed)?;
        let nonce = B64.decode(nonce).map_err(|_| AuthError::Malformed)?;
        let tag = B64.decode(tag).map_err(|_| AuthError::Malformed)?;
        if nonce.len() < 16 {
            return Err(AuthError::Malformed);
        }
        // Constant time: the comparison does not stop at the first wrong byte.
        self.token
            .mac(&[b"agent", &at_ms.to_be_bytes(), &nonce])
            .verify_slice(&tag)
            .map_err(|_| AuthError::WrongToken)?;
        let skew = CLOCK_SKEW.as_millis() as u64;
        if at_ms.abs_diff(now_ms) > skew {
            return Err(AuthError::Stale);
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, at| at.abs_diff(now_ms) <= skew);
        if seen.insert(nonce.clone(), at_ms).is_some() {
            return Err(AuthError::Replayed);
        }
        Ok(nonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn token(s: &str) -> Token {
        Token::new(s).unwrap()
    }

    #[test]
    fn the_right_token_passes_and_the_proof_checks() {
        let verifier = Verifier::new(token("s3cret"));
        let (credential, nonce) = token("s3cret").credential_at(NOW, &[7; 16]);
        assert!(!credential.contains("s3cret"));
        let signed = verifier.verify_at(Some(&credential), NOW + 1000).unwrap();
        assert_eq!(signed, nonce);
        let proof = verifier.token().proof(&signed);
        assert_eq!(token("s3cret").check_proof(&nonce, &proof), Ok(()));
        assert_eq!(
            token("other").check_proof(&nonce, &proof),
            Err(AuthError::NoProof)
        );
        assert_eq!(
            token("s3cret").check_proof(&[8; 16], &proof),
            Err(AuthError::NoProof)
        );
        assert_eq!(
            token("s3cret").check_proof(&nonce, ""),
            Err(AuthError::NoProof)
        );
    }

    #[test]
    fn wrong_missing_malformed_stale_and_replayed_are_refused() {
        let verifier = Verifier::new(token("s3cret"));
        let (wrong, _) = token("guess").credential_at(NOW, &[1; 16]);
        assert_eq!(
            verifier.verify_at(Some(&wrong), NOW),
            Err(AuthError::WrongToken)
        );
        assert_eq!(verifier.verify_at(None, NOW), Err(AuthError::Missing));
        assert_eq!(
            verifier.verify_at(Some("Bearer s3cret"), NOW),
            Err(AuthError::Malformed)
        );
        let (old, _) = token("s3cret").credential_at(NOW - 301_000, &[2; 16]);
        assert_eq!(verifier.verify_at(Some(&old), NOW), Err(AuthError::Stale));
        let (once, _) = token("s3cret").credential_at(NOW, &[3; 16]);
        assert!(verifier.verify_at(Some(&once), NOW).is_ok());
        assert_eq!(
            verifier.verify_at(Some(&once), NOW + 5),
            Err(AuthError::Replayed)
        );
        // A tampered timestamp breaks the MAC.
        let tampered = once.replacen(&NOW.to_string(), &(NOW + 1).to_string(), 1);
        assert_eq!(
            verifier.verify_at(Some(&tampered), NOW),
            Err(AuthError::WrongToken)
        );
        assert_eq!(Token::new("").err(), Some(AuthError::EmptyToken));
    }
}
