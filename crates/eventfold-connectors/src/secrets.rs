//! Secrets in a connector's settings are kept as given but never shown:
//! what `GET /connectors[/{id}]` (and so `eventfold connector status`)
//! returns has passwords, tokens, keys, credential headers and URL or
//! connection-string passwords replaced by [`REDACTED`]. Settings sent
//! back as they were shown keep the stored secret: a value equal to the
//! redacted form of the stored one is taken to mean "unchanged".

use crate::settings::RawSettings;

pub const REDACTED: &str = "***";

/// The settings as they may be shown.
pub(crate) fn redacted(settings: &RawSettings) -> RawSettings {
    settings.iter().map(|(key, value)| (key.clone(), redact(key, value))).collect()
}

/// `incoming` with every value that is the redacted form of the stored
/// value of its key put back to the stored value.
pub(crate) fn restore(incoming: &mut RawSettings, stored: &RawSettings) {
    for (key, value) in incoming.iter_mut() {
        if let Some(original) = stored.get(key) {
            let shown = redact(key, original);
            if shown != *original && *value == shown {
                value.clone_from(original);
            }
        }
    }
}

/// One setting's value as it may be shown.
fn redact(key: &str, value: &str) -> String {
    let name = key.rsplit(':').next().unwrap_or(key).to_ascii_lowercase();
    let is_header = key.to_ascii_lowercase().starts_with("headers:");
    if is_secret_name(&name) || (is_header && is_credential_header(&name)) {
        return REDACTED.to_owned();
    }
    if name == "defaultheaders" {
        return redact_header_list(value);
    }
    if is_address_name(&name) { redact_password_parameters(&redact_url_password(value)) } else { value.to_owned() }
}

/// Settings that hold a URL or a connection string (`url`,
/// `connectionString`, `endpoint`, `bootstrapServers`): only these are
/// searched for passwords inside, so that a template or a transform is
/// shown as written.
fn is_address_name(name: &str) -> bool {
    ["url", "connection", "endpoint", "server", "broker", "host"].iter().any(|word| name.contains(word))
}

/// Setting names that hold a secret whole: `authentication:basic:password`,
/// `authentication:bearer:token`, `authentication:apiKey`,
/// `authentication:secretAccessKey`, `authentication:sessionToken`, ...
fn is_secret_name(name: &str) -> bool {
    ["password", "token", "secret", "apikey", "api-key", "api_key", "credential"].iter().any(|word| name.contains(word))
}

fn is_credential_header(name: &str) -> bool {
    matches!(name, "authorization" | "proxy-authorization" | "cookie") || is_secret_name(name)
}

/// `Name:Value, ...` with the values of credential headers hidden.
fn redact_header_list(list: &str) -> String {
    list.split(',')
        .map(|pair| match pair.split_once(':') {
            Some((name, _)) if is_credential_header(&name.trim().to_ascii_lowercase()) => format!("{name}:{REDACTED}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `scheme://user:password@host...` with the password hidden.
fn redact_url_password(value: &str) -> String {
    let Some(scheme_end) = value.find("://") else { return value.to_owned() };
    let authority_start = scheme_end + 3;
    let rest = &value[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else { return value.to_owned() };
    let Some(colon) = authority[..at].find(':') else { return value.to_owned() };
    let password_start = authority_start + colon + 1;
    let password_end = authority_start + at;
    format!("{}{REDACTED}{}", &value[..password_start], &value[password_end..])
}

/// libpq's `password=...` (bare or quoted) and a URL's `password=`
/// query parameter, hidden.
fn redact_password_parameters(value: &str) -> String {
    const PARAMETER: &str = "password";
    let lowered = value.to_ascii_lowercase();
    let mut out = String::with_capacity(value.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = lowered[search..].find(PARAMETER) {
        let name_end = search + found + PARAMETER.len();
        search = name_end;
        let after = &value[name_end..];
        let spaces = after.len() - after.trim_start().len();
        let Some(rest) = after.trim_start().strip_prefix('=') else { continue };
        let value_start = name_end + spaces + 1 + (rest.len() - rest.trim_start().len());
        let tail = &value[value_start..];
        let length = if let Some(quoted) = tail.strip_prefix('\'') {
            // Up to the closing quote, past backslash escapes.
            let mut escaped = false;
            let close = quoted.char_indices().find_map(|(index, next)| {
                let closes = next == '\'' && !escaped;
                escaped = next == '\\' && !escaped;
                closes.then_some(index)
            });
            close.map_or(tail.len(), |close| close + 2)
        } else {
            tail.find(|next: char| next.is_whitespace() || next == '&' || next == '#').unwrap_or(tail.len())
        };
        if length == 0 {
            continue;
        }
        out.push_str(&value[copied..value_start]);
        out.push_str(REDACTED);
        copied = value_start + length;
        search = copied;
    }
    out.push_str(&value[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::raw;

    #[test]
    fn secrets_are_hidden_and_the_rest_shown() {
        let stored = raw(&[
            ("url", "http://127.0.0.1:8080/hook"),
            ("authentication:basic:username", "admin"),
            ("authentication:basic:password", "changeit"),
            ("authentication:bearer:token", "t0k"),
            ("authentication:apiKey", "k3y"),
            ("authentication:accessKeyId", "AKID"),
            ("authentication:secretAccessKey", "s3cret"),
            ("headers:Authorization", "Basic abc"),
            ("headers:X-Api-Key", "k"),
            ("headers:X-Trace", "on"),
            ("defaultHeaders", "X-One:1, Authorization: Bearer x,X-Auth-Token:y"),
            ("checkpointKey", "eventfold:position"),
            ("transform", "e.data.password = null; return e.data;"),
        ]);
        let shown = redacted(&stored);
        let get = |key: &str| shown.get(key).map(String::as_str).unwrap_or_default();
        for key in [
            "authentication:basic:password",
            "authentication:bearer:token",
            "authentication:apiKey",
            "authentication:secretAccessKey",
            "headers:Authorization",
            "headers:X-Api-Key",
        ] {
            assert_eq!(get(key), REDACTED, "{key}");
        }
        for key in [
            "url",
            "authentication:basic:username",
            "authentication:accessKeyId",
            "headers:X-Trace",
            "checkpointKey",
            "transform",
        ] {
            assert_eq!(get(key), stored[key], "{key}");
        }
        assert_eq!(get("defaultHeaders"), "X-One:1, Authorization:***,X-Auth-Token:***");
    }

    #[test]
    fn passwords_inside_urls_and_connection_strings_are_hidden() {
        for (given, shown) in [
            ("amqp://guest:guest@127.0.0.1:5672/%2f", "amqp://guest:***@127.0.0.1:5672/%2f"),
            ("redis://:pw@localhost:6379/0", "redis://:***@localhost:6379/0"),
            ("postgres://app:p%40ss@db/app?sslmode=require", "postgres://app:***@db/app?sslmode=require"),
            ("nats://alice@h:4222", "nats://alice@h:4222"),
            ("host=db user=app password=secret dbname=x", "host=db user=app password=*** dbname=x"),
            ("host=db password = 'a b\\' c' port=5", "host=db password = *** port=5"),
            (
                "postgres://db/app?user=u&password=p&sslmode=disable",
                "postgres://db/app?user=u&password=***&sslmode=disable",
            ),
            ("mqtt://127.0.0.1:1883", "mqtt://127.0.0.1:1883"),
            ("no password here", "no password here"),
        ] {
            assert_eq!(redact("connectionString", given), shown, "{given}");
        }
    }

    #[test]
    fn settings_sent_back_as_shown_keep_the_stored_secrets() {
        let stored = raw(&[
            ("url", "amqp://guest:guest@h/%2f"),
            ("authentication:bearer:token", "t0k"),
            ("authentication:basic:password", "old"),
        ]);
        let mut incoming = redacted(&stored);
        incoming.insert("authentication:basic:password".into(), "new".into());
        incoming.insert("batching:batchSize".into(), "7".into());
        restore(&mut incoming, &stored);
        assert_eq!(incoming["url"], "amqp://guest:guest@h/%2f");
        assert_eq!(incoming["authentication:bearer:token"], "t0k");
        assert_eq!(incoming["authentication:basic:password"], "new", "a new secret replaces the old");
        assert_eq!(incoming["batching:batchSize"], "7");

        let mut changed_url = raw(&[("url", "amqp://guest:***@other/%2f")]);
        restore(&mut changed_url, &stored);
        assert_eq!(changed_url["url"], "amqp://guest:***@other/%2f", "another URL is taken as given");
    }
}
