//! A webhook's `auth`: the caller proves it holds a credential, by sending it
//! or by signing the body with it. Every comparison is in constant time; why
//! a check failed is logged for the owner's admin, never told to the caller.

use std::collections::BTreeMap;

use app::model::{CredentialValue, WebhookAuth};
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::engine::nodes::http::credentials::OpenedCredential;

/// What the caller sent that a check reads.
pub struct Call<'a> {
    pub headers: &'a HeaderMap,
    pub query: &'a BTreeMap<String, String>,
    pub body: &'a [u8],
    /// Seconds since the epoch, for timestamps against replays.
    pub now_secs: i64,
}

impl Call<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Whether `call` passes `auth` with `credential` (the one `auth` names); the
/// reason when it does not.
pub fn check(auth: &WebhookAuth, credential: &OpenedCredential, call: &Call<'_>) -> Result<(), &'static str> {
    if credential.value().oauth2().is_some() {
        // Its tokens are for calling out; nobody calls in with them.
        return Err("an oauth2 credential cannot check a webhook's callers");
    }
    if credential.value().llm().is_some() {
        // An LLM provider's key is for calling out, and may be absent.
        return Err("an llm credential cannot check a webhook's callers");
    }
    match auth {
        WebhookAuth::Credential { .. } => presents(credential, call),
        WebhookAuth::Hmac { header, prefix, timestamp_header, signed_payload, tolerance_secs, .. } => {
            let timestamp = match timestamp_header {
                Some(name) => Some(fresh_timestamp(call.header(name), call.now_secs, *tolerance_secs)?),
                None => None,
            };
            let sent = call.header(header).ok_or("no signature header")?;
            let signature = sent.trim().strip_prefix(prefix.as_str()).ok_or("the signature lacks its prefix")?;
            let template = signed_payload.as_deref().unwrap_or("{body}");
            let payload = fill(template, timestamp.unwrap_or_default(), call.body);
            verify(credential.secret(), &payload, signature)
        }
        WebhookAuth::Stripe { tolerance_secs, .. } => {
            let sent = call.header("stripe-signature").ok_or("no Stripe-Signature header")?;
            let parts: Vec<(&str, &str)> = sent.split(',').filter_map(|part| part.trim().split_once('=')).collect();
            let t = parts.iter().find(|(k, _)| *k == "t").map(|(_, v)| *v);
            let t = fresh_timestamp(t, call.now_secs, *tolerance_secs)?;
            let payload = fill("{timestamp}.{body}", t, call.body);
            // Several `v1` while Stripe rolls a secret: any one may match.
            let signed =
                parts.iter().filter(|(k, _)| *k == "v1").any(|(_, v)| verify(credential.secret(), &payload, v).is_ok());
            signed.then_some(()).ok_or("no v1 signature matches")
        }
    }
}

/// The caller sent the credential as an `http` node would.
fn presents(credential: &OpenedCredential, call: &Call<'_>) -> Result<(), &'static str> {
    let (sent, expected) = match credential.value() {
        CredentialValue::Bearer { .. } | CredentialValue::Basic { .. } => {
            (call.header("authorization"), credential.authorization().unwrap_or_default())
        }
        CredentialValue::Header { name, value } => (call.header(name), value.clone()),
        CredentialValue::Query { name, value } => (call.query.get(name).map(String::as_str), value.clone()),
        CredentialValue::OAuth2(_) => return Err("an oauth2 credential cannot check a webhook's callers"),
        CredentialValue::Llm(_) => return Err("an llm credential cannot check a webhook's callers"),
    };
    let sent = sent.ok_or("the credential was not sent")?;
    same(sent.as_bytes(), expected.as_bytes()).then_some(()).ok_or("the credential does not match")
}

/// A timestamp header's value, when it is within `tolerance` seconds of now.
fn fresh_timestamp(sent: Option<&str>, now: i64, tolerance: u64) -> Result<i64, &'static str> {
    let at: i64 = sent.ok_or("no timestamp")?.trim().parse().map_err(|_| "the timestamp is not a number")?;
    if now.abs_diff(at) > tolerance {
        return Err("the timestamp is too old or in the future");
    }
    Ok(at)
}

/// The signed bytes: `template` with `{timestamp}` and `{body}` filled in.
fn fill(template: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let template = template.replace("{timestamp}", &timestamp.to_string());
    let (before, after) = template.split_once("{body}").unwrap_or((template.as_str(), ""));
    [before.as_bytes(), body, after.as_bytes()].concat()
}

/// Checks a hex HMAC-SHA256 of `payload` under `secret`, in constant time.
fn verify(secret: &str, payload: &[u8], hex_signature: &str) -> Result<(), &'static str> {
    let signature = from_hex(hex_signature.trim()).ok_or("the signature is not hex")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| "unusable key")?;
    mac.update(payload);
    mac.verify_slice(&signature).map_err(|_| "the signature does not match")
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// Equal bytes, compared without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn sign(secret: &str, payload: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(payload);
        hex(&mac.finalize().into_bytes())
    }

    #[test]
    fn slack_style_signatures_cover_the_timestamp_and_refuse_replays() {
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        let body = b"token=xyz&team_id=T1&command=/weather";
        let payload = [b"v0:1531420618:".as_slice(), body].concat();
        let auth = WebhookAuth::Hmac {
            credential: "slack".into(),
            header: "x-slack-signature".into(),
            prefix: "v0=".into(),
            timestamp_header: Some("x-slack-request-timestamp".into()),
            signed_payload: Some("v0:{timestamp}:{body}".into()),
            tolerance_secs: 300,
        };
        let credential = OpenedCredential::for_tests(CredentialValue::Bearer { token: secret.into() });
        let sent = headers(&[
            ("x-slack-signature", &format!("v0={}", sign(secret, &payload))),
            ("x-slack-request-timestamp", "1531420618"),
        ]);
        let query = BTreeMap::new();
        let call = |now_secs| Call { headers: &sent, query: &query, body, now_secs };
        assert_eq!(check(&auth, &credential, &call(1_531_420_700)), Ok(()));
        assert_eq!(check(&auth, &credential, &call(1_531_430_000)), Err("the timestamp is too old or in the future"));
        let tampered = Call { body: b"token=xyz&team_id=T2&command=/weather", ..call(1_531_420_700) };
        assert_eq!(check(&auth, &credential, &tampered), Err("the signature does not match"));
    }

    #[test]
    fn stripe_signatures_match_any_v1_of_the_header() {
        let secret = "whsec_test_secret";
        let body = br#"{"id": "evt_1", "type": "charge.succeeded"}"#;
        let payload = [b"1700000000.".as_slice(), body].concat();
        let header = format!("t=1700000000,v1={},v1={}", "00".repeat(32), sign(secret, &payload));
        let sent = headers(&[("stripe-signature", &header)]);
        let query = BTreeMap::new();
        let auth = WebhookAuth::Stripe { credential: "stripe".into(), tolerance_secs: 300 };
        let credential = OpenedCredential::for_tests(CredentialValue::Bearer { token: secret.into() });
        let call = Call { headers: &sent, query: &query, body, now_secs: 1_700_000_100 };
        assert_eq!(check(&auth, &credential, &call), Ok(()));
        let other = OpenedCredential::for_tests(CredentialValue::Bearer { token: "whsec_other".into() });
        assert_eq!(check(&auth, &other, &call), Err("no v1 signature matches"));
    }

    #[test]
    fn a_sent_credential_must_match_exactly() {
        let query: BTreeMap<String, String> = [("key".to_string(), "q-secret-1".to_string())].into();
        let empty = HeaderMap::new();
        let auth = WebhookAuth::Credential { credential: "c".into() };
        let by_query =
            OpenedCredential::for_tests(CredentialValue::Query { name: "key".into(), value: "q-secret-1".into() });
        let call = Call { headers: &empty, query: &query, body: b"", now_secs: 0 };
        assert_eq!(check(&auth, &by_query, &call), Ok(()));
        let bearer = OpenedCredential::for_tests(CredentialValue::Bearer { token: "t-secret-1".into() });
        let sent = headers(&[("authorization", "Bearer t-secret-")]);
        let call = Call { headers: &sent, query: &query, body: b"", now_secs: 0 };
        assert_eq!(check(&auth, &bearer, &call), Err("the credential does not match"));
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"abc", b"ab"));
    }
}
