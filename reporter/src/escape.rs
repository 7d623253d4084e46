//! JSON that is safe inside `<script type="application/json">`: no dataset string can close the element
//! or start markup, whatever it holds (`</script><script>alert(1)</script>` stays text).

/// Serialises `value` as JSON with `<`, `>`, `&`, U+2028 and U+2029 written as `\uXXXX` escapes.
pub fn script_json(value: &serde_json::Value) -> String {
    let raw = serde_json::to_string(value).expect("a JSON value serialises");
    let mut out = String::with_capacity(raw.len() + 16);
    for c in raw.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_cannot_be_closed_from_data() {
        let v = serde_json::json!({"line": "</script><script>alert(1)</script> & \u{2028}"});
        let s = script_json(&v);
        assert!(!s.contains('<') && !s.contains('>') && !s.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }
}
