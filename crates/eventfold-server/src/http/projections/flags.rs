//! Query-string options as KurrentDB reads them: `yes`, `true` or `1` is on,
//! `no`, `false` or `0` off, anything else (or nothing) the default.

use std::collections::HashMap;

pub type Params = HashMap<String, String>;

/// `Some(true|false)` when the option is given as a flag, `None` otherwise.
pub fn flag(params: &Params, name: &str) -> Option<bool> {
    match params.get(name)?.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" => Some(true),
        "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

pub fn flag_or(params: &Params, name: &str, default: bool) -> bool {
    flag(params, name).unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_read_as_the_reference_server_reads_them() {
        let params: Params =
            [("a", "YES"), ("b", "0"), ("c", "maybe")].map(|(key, value)| (key.into(), value.into())).into();
        assert_eq!(flag(&params, "a"), Some(true));
        assert_eq!(flag(&params, "b"), Some(false));
        assert_eq!(flag(&params, "c"), None);
        assert!(flag_or(&params, "missing", true));
        assert!(!flag_or(&params, "c", false));
    }
}
