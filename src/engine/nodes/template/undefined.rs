//! Saying which path of a template is undefined, and what is there instead.
//! minijinja's own message is "undefined value"; for `{{ nodes.fetch.output.body }}`
//! where the output is `nodes.fetch.body`, this says "`nodes.fetch.output` is
//! undefined: `nodes.fetch` has `status`, `headers`, `body`".

use minijinja::value::{Value, ValueKind};

/// The most keys listed of what is there.
const KEYS_SHOWN: usize = 12;

/// What is undefined in the expression `error` points at, read from the
/// render's `context`; none when the error's span is not a plain path.
pub fn describe(source: &str, error: &minijinja::Error, context: &Value) -> Option<String> {
    let range = error.range()?;
    // The span starts at the part that failed (`.output.body`): the path
    // begins earlier, at the name it is read from.
    let before = source.get(..range.start)?;
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '"' | '\'' | '-'))
        .last()
        .map_or(range.start, |(at, _)| at);
    let path = parse_path(source.get(start..range.end)?)?;
    let (first, rest) = path.split_first()?;
    let mut value = context.get_attr(first).ok().filter(|v| !v.is_undefined())?;
    let mut walked = first.clone();
    for segment in rest {
        let next = match segment.parse::<i64>() {
            Ok(index) if matches!(value.kind(), ValueKind::Seq) => value.get_item(&Value::from(index)),
            _ => value.get_attr(segment),
        };
        match next {
            Ok(next) if !next.is_undefined() => {
                value = next;
                walked = format!("{walked}.{segment}");
            }
            _ => {
                let undefined = format!("`{walked}.{segment}` is undefined");
                let there = what_is_there(&walked, &value);
                // minijinja's own message may already name the path.
                return Some(match error.detail() {
                    Some(detail) if detail.contains(&undefined) => there,
                    _ => format!("{undefined}: {there}"),
                });
            }
        }
    }
    None
}

/// `` `nodes.fetch` has `status`, `headers`, `body` ``, or what kind of value it is.
fn what_is_there(path: &str, value: &Value) -> String {
    match value.kind() {
        ValueKind::Map => {
            let keys: Vec<String> = value
                .try_iter()
                .map(|keys| {
                    keys.take(KEYS_SHOWN + 1).map(|k| format!("`{}`", k.as_str().unwrap_or(&k.to_string()))).collect()
                })
                .unwrap_or_default();
            match keys.len() {
                0 => format!("`{path}` is an empty object"),
                n if n > KEYS_SHOWN => format!("`{path}` has {}, …", keys[..KEYS_SHOWN].join(", ")),
                _ => format!("`{path}` has {}", keys.join(", ")),
            }
        }
        ValueKind::Seq => format!("`{path}` is a list of {} items", value.len().unwrap_or(0)),
        ValueKind::None => format!("`{path}` is none"),
        kind => format!("`{path}` is a {kind}, not an object"),
    }
}

/// `nodes.fetch.output.body`, `nodes["fetch"].items[0]`, as segments; none for
/// anything else (a call, an operator, a filter).
fn parse_path(span: &str) -> Option<Vec<String>> {
    let text = span.trim();
    let text = text.strip_prefix("{{").unwrap_or(text).strip_suffix("}}").unwrap_or(text).trim();
    let mut segments = Vec::new();
    let mut chars = text.char_indices().peekable();
    let ident = |chars: &mut std::iter::Peekable<std::str::CharIndices>| {
        let mut name = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        (!name.is_empty()).then_some(name)
    };
    segments.push(ident(&mut chars)?);
    while let Some((_, c)) = chars.next() {
        match c {
            '.' => segments.push(ident(&mut chars)?),
            '[' => {
                let rest: String = chars.by_ref().map(|(_, c)| c).take_while(|c| *c != ']').collect();
                let key = rest.trim().trim_matches(|c| c == '"' || c == '\'');
                if key.is_empty() {
                    return None;
                }
                segments.push(key.to_string());
            }
            c if c.is_whitespace() => {}
            _ => return None,
        }
    }
    Some(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_read_in_dots_and_brackets() {
        assert_eq!(parse_path("nodes.fetch.output.body").unwrap(), ["nodes", "fetch", "output", "body"]);
        assert_eq!(parse_path("{{ nodes[\"my-node\"].items[0] }}").unwrap(), ["nodes", "my-node", "items", "0"]);
        assert_eq!(parse_path("input.a | upper"), None);
        assert_eq!(parse_path("f(x)"), None);
    }
}
