//! Path templates such as `/api/v1/merchant/{id}`, matched segment by segment against the raw
//! path, so a handler finds its parameters the same way behind any front door.

/// Parameters captured from a path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParams(Vec<(&'static str, String)>);

impl PathParams {
    /// The value captured for `{name}`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Matches `path` against `template`; `{name}` captures one non-empty segment.
pub fn match_template(template: &'static str, path: &str) -> Option<PathParams> {
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let mut params = Vec::new();
    let mut want = template.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(PathParams(params)),
            (Some(w), Some(g)) => {
                if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                    if g.is_empty() {
                        return None;
                    }
                    params.push((name, g.to_string()));
                } else if w != g {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_parameters() {
        let p = match_template("/api/v1/merchant/{id}", "/api/v1/merchant/mer_1").unwrap();
        assert_eq!(p.get("id"), Some("mer_1"));
        assert!(match_template("/api/v1/merchant/{id}", "/api/v1/merchant/mer_1/").is_some());
    }

    #[test]
    fn refuses_other_shapes() {
        assert!(match_template("/api/v1/merchant/{id}", "/api/v1/merchant").is_none());
        assert!(match_template("/api/v1/merchant/{id}", "/api/v1/merchant/").is_none());
        assert!(match_template("/api/v1/merchant/{id}", "/api/v1/merchant/a/b").is_none());
        assert!(match_template("/api/health", "/api/healthz").is_none());
        assert!(match_template("/api/health", "/api/health").is_some());
    }
}
