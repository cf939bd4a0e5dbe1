//! Small, dependency-free HTML pages for people: the hosted checkout's states and the sandbox's
//! pay page. Every interpolated value goes through [`escape`].

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A complete page with `title` and already-escaped `body` markup.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1b1b1f}}\
         .amount{{font-size:2rem;font-weight:600}} button{{font-size:1rem;padding:.7rem 1.4rem;margin:.3rem;border-radius:.4rem;border:1px solid #888;cursor:pointer}}\
         .pay{{background:#0b6e4f;color:#fff;border-color:#0b6e4f}} .muted{{color:#666;font-size:.9rem}}\
         </style></head><body>{body}</body></html>",
        title = escape(title),
    )
}

/// `value` as JSON that is safe inside a `<script>` element: the characters that could end the
/// element or open a comment are written as JSON escapes.
pub fn script_json(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Rupees for people: `12345` paise → `₹123.45`.
pub fn rupees(paise: i64) -> String {
    format!("₹{}", crate::money::to_major_string(paise))
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_in_a_script_cannot_close_it() {
        let value =
            serde_json::json!({ "description": "</script><script>alert(1)</script> & more" });
        let embedded = super::script_json(&value);
        assert!(!embedded.contains('<') && !embedded.contains('>') && !embedded.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&embedded).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
