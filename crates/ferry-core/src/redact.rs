//! Keeping secrets out of every output: the secret values ferry was given, and the shapes
//! secrets take in requests (signatures, tokens, keys), replaced by [`REDACTED`].
//!
//! Two layers, both applied by [`redact`]:
//! * **Values.** Whoever reads a secret (the CLI for `-o`/`--src-option`/`--dst-option` keys
//!   and credential environment variables; a backend for a secret it reads from a file, e.g.
//!   a Flink configuration's `s3.secret-key` or a service-account key) registers it with
//!   [`add_secret`]. Every occurrence of it, and of its percent-encoded form (as it appears in
//!   a query string), is replaced — wherever it shows up, in a dependency's trace of a
//!   canonical request as much as in an error message.
//! * **Patterns.** Values ferry never saw (a signature it computed, a token fetched from a
//!   metadata server) are caught by their shape: the values of `authorization`,
//!   `x-amz-security-token` and similar headers; signed-URL query parameters
//!   (`X-Amz-Signature=`, `X-Amz-Credential=`, `X-Amz-Security-Token=`, `sig=`, …);
//!   `Bearer` tokens; PEM private keys; `AccountKey=`/`SharedAccessSignature=` in connection
//!   strings.
//!
//! Values shorter than [`MIN_SECRET_LEN`] bytes are not registered: replacing every `a` of a
//! log would hide the log, not the secret (no real credential is that short).

use std::borrow::Cow;
use std::sync::{OnceLock, RwLock};

use regex::Regex;

/// What a secret is replaced by.
pub const REDACTED: &str = "[redacted]";

/// Secret values shorter than this are not registered (see the module documentation).
pub const MIN_SECRET_LEN: usize = 4;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Registers a secret value: from now on [`redact`] replaces it (and its percent-encoded
/// form) wherever it appears. Surrounding whitespace is ignored; short values are skipped.
pub fn add_secret(value: &str) {
    let value = value.trim();
    if value.len() < MIN_SECRET_LEN {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for form in [value.to_string(), crate::location::percent_encode(value)] {
        if !secrets.contains(&form) {
            secrets.push(form);
        }
    }
    // Longest first, so a secret that contains another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Registers the secrets inside a credentials JSON document (a GCS service-account or
/// authorized-user file): `private_key`, `private_key_id`, `client_secret`, `refresh_token`.
pub fn add_secrets_of_json(text: &str) {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    for key in [
        "private_key",
        "private_key_id",
        "client_secret",
        "refresh_token",
        "access_token",
    ] {
        if let Some(secret) = value.get(key).and_then(|v| v.as_str()) {
            add_secret(secret);
            // The key as it appears in a JSON dump (newlines escaped), and each line of a
            // PEM body on its own.
            add_secret(&secret.replace('\n', "\\n"));
            for line in secret
                .lines()
                .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
            {
                add_secret(line);
            }
        }
    }
}

/// Registers the secrets of an Azure-style connection string (`AccountKey=`,
/// `SharedAccessSignature=`).
pub fn add_secrets_of_connection_string(text: &str) {
    for part in text.split(';') {
        if let Some((key, value)) = part.split_once('=') {
            let key = key.trim().to_ascii_lowercase();
            if key == "accountkey" || key == "sharedaccesssignature" {
                add_secret(value);
            }
        }
    }
}

/// Whether an option key names a secret (`secret_access_key`, `session_token`, `token`,
/// `password`, `account_key`, `sas_token`, …). Key *ids* and paths are not secrets.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    if key.ends_with("_id") || key.ends_with("_path") || key.ends_with("_file") {
        return false;
    }
    [
        "secret",
        "token",
        "password",
        "passwd",
        "sas",
        "account_key",
        "private_key",
    ]
    .iter()
    .any(|word| key.contains(word))
        || key == "key"
        || key == "credential"
}

fn patterns() -> &'static [(Regex, &'static str)] {
    static PATTERNS: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let rules: [(&str, &str); 7] = [
            // PEM private keys (also with escaped newlines, as in a JSON dump).
            (
                r"(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
                "[redacted private key]",
            ),
            // Header values that hold spaces, as `name: value`, `"name": "value"`, `name=value`
            // or a `HeaderMap`'s debug form (`"name": HeaderValue { _private: H0("value") }`):
            // up to the end of the line (or of the quoted/escaped string).
            (
                r#"(?i)(\\[nrt]|\b)(authorization|proxy-authorization|x-ms-copy-source-authorization|cookie|set-cookie)("?\s*[:=]\s*(?:HeaderValue \{ _private: \w+\()?"?)[^"\\\r\n]+"#,
                "${1}${2}${3}[redacted]",
            ),
            // Token-valued headers: up to the next space or separator.
            (
                r#"(?i)(\\[nrt]|\b)(x-amz-security-token|x-goog-iam-authorization-token)("?\s*[:=]\s*(?:HeaderValue \{ _private: \w+\()?"?)[^"\\\s,;&]+"#,
                "${1}${2}${3}[redacted]",
            ),
            // Signed-URL query parameters and `key=value` forms of them.
            (
                r#"(?i)(\\[nrt]|\b)(x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|signature|sig|access_token|sessiontoken|session_token|accountkey|sharedaccesssignature)=[^&\s"'\\<>,;]+"#,
                "${1}${2}=[redacted]",
            ),
            // Bearer tokens (an Azure SAS is caught by its `sig=` above: the rest of a SAS is
            // not secret by itself).
            (r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+", "${1} [redacted]"),
            // Signature fields of an AWS Authorization header printed on their own.
            (r"(?i)\b(Signature\s*[:=]\s*)[0-9a-f]{64}\b", "${1}[redacted]"),
            // A JSON credential field printed as a whole.
            (
                r#"(?i)"(private_key|private_key_id|client_secret|refresh_token|access_token)"\s*:\s*"[^"]*""#,
                r#""${1}": "[redacted]""#,
            ),
        ];
        rules
            .iter()
            .map(|(pattern, replacement)| {
                (
                    Regex::new(pattern).expect("redaction patterns compile"),
                    *replacement,
                )
            })
            .collect()
    })
}

/// `text` with every registered secret value and every secret-shaped token replaced by
/// [`REDACTED`]. Borrows when nothing was replaced.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    {
        let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
    }
    for (pattern, replacement) in patterns() {
        if let Cow::Owned(replaced) = pattern.replace_all(&out, *replacement) {
            out = Cow::Owned(replaced);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_and_their_encoded_forms_are_replaced() {
        add_secret("FwoGZXIvYXdzEJr//token+with/slashes==");
        let line = "x-amz-security-token:FwoGZXIvYXdzEJr//token+with/slashes== and \
                    ?X-Amz-Security-Token=FwoGZXIvYXdzEJr%2F%2Ftoken%2Bwith%2Fslashes%3D%3D&a=b";
        let out = redact(line);
        assert!(!out.contains("FwoGZXIvYXdzEJr"), "{out}");
        assert!(out.contains("[redacted]"), "{out}");
        assert!(out.ends_with("&a=b"), "{out}");
        // Short values are not registered.
        add_secret("ab");
        assert_eq!(redact("a cab"), "a cab");
    }

    #[test]
    fn secret_shapes_are_replaced_without_registration() {
        let cases = [
            (
                r#"headers: {"authorization": "AWS4-HMAC-SHA256 Credential=AKIA/2026/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "host": "h"}"#,
                "0123456789abcdef",
            ),
            (
                "GET /b/k?X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=deadbeefcafe&x=1 HTTP/1.1",
                "deadbeefcafe",
            ),
            (
                "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&ss=b&sig=abc%2Bdef%3D HTTP",
                "abc%2Bdef",
            ),
            ("Authorization: Bearer ya29.a0AfH6SMBx-secret", "ya29"),
            (
                r#"{"authorization": HeaderValue { _private: H0("AWS4-HMAC-SHA256 Credential=AKIDFERRY/20261206/us-east-1/s3/aws4_request, Signature=abc") }, "x-amz-security-token": HeaderValue { _private: H0("FwoGtoken") }}"#,
                "AKIDFERRY",
            ),
            (
                r#"{"x-amz-security-token": HeaderValue { _private: H0("FwoGtoken") }}"#,
                "FwoGtoken",
            ),
            (
                r#"{"private_key": "-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----\n"}"#,
                "MIIEv",
            ),
            (
                "DefaultEndpointsProtocol=http;AccountName=dev;AccountKey=Eby8vdM02xNOcqF==;",
                "Eby8vdM02",
            ),
            (
                "canonical_request=GET\\n/\\nx-amz-security-token:IQoJb3JpZ2lu\\nhost",
                "IQoJ",
            ),
        ];
        for (line, secret) in cases {
            let out = redact(line);
            assert!(!out.contains(secret), "{line}\n→ {out}");
            assert!(out.contains("redacted"), "{out}");
        }
        // Ordinary lines pass untouched.
        let plain = "copied 12 files (3.1 MiB) to s3://bucket/key?versionId=1";
        assert!(matches!(redact(plain), Cow::Borrowed(_)));
    }

    #[test]
    fn secret_keys_are_recognised() {
        for key in [
            "secret_access_key",
            "session_token",
            "token",
            "sas_token",
            "account_key",
            "password",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "access_key_id",
            "credential_path",
            "endpoint",
            "region",
            "kerberos_keytab",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn credential_files_and_connection_strings_register_their_secrets() {
        add_secrets_of_json(
            r#"{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\nQUJDREVGR0hJSktMTU5PUA\n-----END PRIVATE KEY-----\n","client_email":"a@b"}"#,
        );
        assert!(!redact("key QUJDREVGR0hJSktMTU5PUA seen").contains("QUJDREVG"));
        add_secrets_of_connection_string("AccountName=a;AccountKey=c2VjcmV0a2V5MTIz;");
        assert!(!redact("k=c2VjcmV0a2V5MTIz").contains("c2VjcmV0"));
    }
}
