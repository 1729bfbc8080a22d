//! The webhook signature (Stripe's scheme): `Audience-Sharing-Signature:
//! t={unix seconds},v1={hex HMAC-SHA256(secret, "{t}.{body}")}`, with one `v1=` per
//! secret that signs (two for 24 hours after a rotation). Receivers check one of them
//! and that `t` is recent.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The request header carrying the signature.
pub const HEADER: &str = "Audience-Sharing-Signature";
/// The request header carrying the batch's `deliveryId`.
pub const DELIVERY_HEADER: &str = "Audience-Sharing-Delivery";

fn mac(secret: &str, t: i64, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

/// The header's value for `body` sent at `t`, signed by each of `secrets`.
pub fn sign<S: AsRef<str>>(secrets: &[S], t: i64, body: &[u8]) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        if let Some(mac) = mac(secret.as_ref(), t, body) {
            let hex: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            header.push_str(",v1=");
            header.push_str(&hex);
        }
    }
    header
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// Not `t=...,v1=...`.
    Malformed,
    /// `t` is further than the tolerance from now (a replay, or a wrong clock).
    Stale,
    /// No `v1=` is this secret's.
    NoMatch,
}

/// Checks a received header against `secret`, as a receiver does: `t` within
/// `tolerance_seconds` of `now`, and one `v1=` the HMAC of `"{t}.{body}"` (compared in
/// constant time).
pub fn verify(
    header: &str,
    secret: &str,
    body: &[u8],
    now: i64,
    tolerance_seconds: i64,
) -> Result<(), Rejected> {
    let mut t = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => candidates.push(v),
            _ => {}
        }
    }
    let t = t.ok_or(Rejected::Malformed)?;
    if candidates.is_empty() {
        return Err(Rejected::Malformed);
    }
    if (now - t).abs() > tolerance_seconds {
        return Err(Rejected::Stale);
    }
    let matches = candidates.iter().any(|hex| {
        let Some(bytes) = decode_hex(hex) else {
            return false;
        };
        mac(secret, t, body).is_some_and(|m| m.verify_slice(&bytes).is_ok())
    });
    if matches {
        Ok(())
    } else {
        Err(Rejected::NoMatch)
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_its_secret_only() {
        let body = br#"{"deliveryId":"dlv_1"}"#;
        let header = sign(&["whsec_a"], 1_764_633_600, body);
        assert!(header.starts_with("t=1764633600,v1="));
        assert_eq!(verify(&header, "whsec_a", body, 1_764_633_610, 300), Ok(()));
        assert_eq!(
            verify(&header, "whsec_b", body, 1_764_633_610, 300),
            Err(Rejected::NoMatch)
        );
        assert_eq!(
            verify(&header, "whsec_a", b"{}", 1_764_633_610, 300),
            Err(Rejected::NoMatch),
            "another body"
        );
    }

    #[test]
    fn the_hmac_is_over_t_dot_body() {
        // RFC 4231-style check computed independently: HMAC-SHA256("key", "5.body").
        let header = sign(&["key"], 5, b"body");
        let want = {
            let mut m = Hmac::<Sha256>::new_from_slice(b"key").unwrap_or_else(|_| unreachable!());
            m.update(b"5.body");
            m.finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        assert_eq!(header, format!("t=5,v1={want}"));
    }

    #[test]
    fn after_a_rotation_both_secrets_sign() {
        let body = b"[]";
        let header = sign(&["new", "old"], 100, body);
        assert_eq!(header.matches("v1=").count(), 2);
        assert_eq!(verify(&header, "new", body, 100, 300), Ok(()));
        assert_eq!(verify(&header, "old", body, 100, 300), Ok(()));
    }

    #[test]
    fn stale_and_malformed_headers_are_refused() {
        let header = sign(&["s"], 100, b"x");
        assert_eq!(verify(&header, "s", b"x", 1000, 300), Err(Rejected::Stale));
        assert_eq!(
            verify("v1=00", "s", b"x", 100, 300),
            Err(Rejected::Malformed)
        );
        assert_eq!(
            verify("t=100", "s", b"x", 100, 300),
            Err(Rejected::Malformed)
        );
        assert_eq!(
            verify("t=100,v1=zz", "s", b"x", 100, 300),
            Err(Rejected::NoMatch)
        );
    }
}
