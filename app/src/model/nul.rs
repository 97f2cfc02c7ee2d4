//! The NUL character (U+0000). PostgreSQL's `text` and `jsonb` cannot hold it
//! (SQLite can), so Weft keeps it out of everything it stores, the same way on
//! both backends: text people write (names, definitions) is refused with a
//! message that names it; data a run receives or produces (inputs, node outputs,
//! errors: whatever an upstream sent) has each NUL replaced by U+FFFD, the
//! replacement character, so that the run goes on and what a later node, the
//! history and a process taking the run over see is what was stored.

use serde_json::Value;

/// Why text holding a NUL character is refused.
pub const NUL_REFUSED: &str = "text cannot contain the NUL character (U+0000)";

const REPLACEMENT: &str = "\u{FFFD}";

/// Whether any string of `value` (a key or a value) holds a NUL character.
pub fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(key, item)| key.contains('\0') || holds_nul(item)),
        _ => false,
    }
}

/// Replaces each NUL character of `text` by U+FFFD.
pub fn replace_nul_in_text(text: &mut String) {
    if text.contains('\0') {
        *text = text.replace('\0', REPLACEMENT);
    }
}

/// Replaces each NUL character in the strings (keys and values) of `value` by U+FFFD.
pub fn replace_nul(value: &mut Value) {
    match value {
        Value::String(text) => replace_nul_in_text(text),
        Value::Array(items) => items.iter_mut().for_each(replace_nul),
        Value::Object(map) => {
            if map.keys().any(|key| key.contains('\0')) {
                // Keys cannot be changed in place: rebuild the map, in its order.
                let entries = std::mem::take(map);
                for (mut key, mut item) in entries {
                    replace_nul_in_text(&mut key);
                    replace_nul(&mut item);
                    map.insert(key, item);
                }
            } else {
                map.values_mut().for_each(replace_nul);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_a_nul_anywhere_and_only_a_real_one() {
        assert!(holds_nul(&json!({"a": [1, {"b": "x\u{0}y"}]})));
        assert!(holds_nul(&json!({"k\u{0}": 1})));
        // A backslash followed by `u0000` is six ordinary characters.
        assert!(!holds_nul(&json!({"a": "\\u0000", "b": [null, true, 2.5]})));
    }

    #[test]
    fn replaces_every_nul_in_keys_and_values_keeping_the_rest() {
        let mut value = json!({"z": "a\u{0}b\u{0}", "k\u{0}": ["\u{0}", 3], "plain": "\\u0000"});
        replace_nul(&mut value);
        assert_eq!(value, json!({"z": "a\u{FFFD}b\u{FFFD}", "k\u{FFFD}": ["\u{FFFD}", 3], "plain": "\\u0000"}));
        assert!(!holds_nul(&value));
    }
}
