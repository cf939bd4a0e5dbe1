//! The Content-Security-Policy of an HTML page, derived from the page itself so that every page
//! gets the narrowest policy that lets it work: nothing by default, inline scripts and styles
//! allowed only by their SHA-256, external scripts only from the origins the page names, forms
//! only to where they post, and never framed by anyone.
//!
//! A gateway's checkout script (Razorpay, Stripe, Cashfree) opens frames and calls APIs on its
//! own domain, and styles its overlay inline: a page that loads one may frame, connect to and load
//! images from that script's domain and its subdomains, and use inline styles.

use base64::Engine;

/// The policy for `html`.
pub fn for_page(html: &str) -> String {
    let mut scripts = Vec::new();
    let mut provider_domains = Vec::new();
    for (attributes, content) in elements(html, "script") {
        match attribute(attributes, "src") {
            Some(src) => {
                if let Some(origin) = origin(src) {
                    push_unique(&mut scripts, origin.clone());
                    if let Some(domain) = provider_domain(&origin) {
                        push_unique(&mut provider_domains, domain);
                    }
                }
            }
            None => push_unique(&mut scripts, hash(content)),
        }
    }
    let mut forms = vec!["'self'".to_string()];
    for (attributes, _) in elements(html, "form") {
        if let Some(origin) = attribute(attributes, "action").and_then(origin) {
            push_unique(&mut forms, origin);
        }
    }
    let styles: Vec<String> = if provider_domains.is_empty() {
        elements(html, "style").map(|(_, css)| hash(css)).collect()
    } else {
        vec!["'unsafe-inline'".to_string()]
    };
    let mut directives = vec![
        "default-src 'none'".to_string(),
        "base-uri 'none'".to_string(),
        "frame-ancestors 'none'".to_string(),
        // A form's answer may redirect the customer on to the merchant's return_url, which can
        // be any http(s) origin, and browsers hold that redirect to form-action too: the listed
        // origins document where forms post, the schemes keep the return reachable.
        format!("form-action {} https: http:", forms.join(" ")),
    ];
    let list = |items: &[String]| {
        if items.is_empty() {
            "'none'".to_string()
        } else {
            items.join(" ")
        }
    };
    directives.push(format!("script-src {}", list(&scripts)));
    directives.push(format!("style-src {}", list(&styles)));
    if !provider_domains.is_empty() {
        let providers = provider_domains.join(" ");
        directives.push(format!("frame-src {providers}"));
        directives.push(format!("connect-src {providers}"));
        directives.push(format!("img-src {providers} data:"));
    }
    directives.join("; ")
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

fn hash(content: &str) -> String {
    let digest = crate::crypto::sha256(content.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Every `<tag …>content</tag>` of `html`, as (attributes, content).
fn elements<'h>(html: &'h str, tag: &'static str) -> impl Iterator<Item = (&'h str, &'h str)> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut rest = html;
    std::iter::from_fn(move || {
        loop {
            let start = rest.find(&open)?;
            let after = &rest[start + open.len()..];
            // `<scripts>` or `<formal>` are other tags.
            if !after.starts_with(|c: char| c == '>' || c.is_ascii_whitespace()) {
                rest = after;
                continue;
            }
            let end_of_open = after.find('>')?;
            let attributes = &after[..end_of_open];
            let body = &after[end_of_open + 1..];
            let end = body.find(&close).unwrap_or(body.len());
            rest = &body[end..];
            return Some((attributes, &body[..end]));
        }
    })
}

/// The value of `name="…"` among `attributes`.
fn attribute<'a>(attributes: &'a str, name: &str) -> Option<&'a str> {
    let marker = format!("{name}=\"");
    let mut search = attributes;
    loop {
        let at = search.find(&marker)?;
        let preceded_by_space = search[..at]
            .chars()
            .last()
            .is_none_or(|c| c.is_ascii_whitespace());
        let value = &search[at + marker.len()..];
        if preceded_by_space {
            return value.find('"').map(|end| &value[..end]);
        }
        search = value;
    }
}

/// `scheme://host[:port]` of an absolute http(s) URL; `'self'` for a relative one.
fn origin(url: &str) -> Option<String> {
    if url.starts_with('/') && !url.starts_with("//") {
        return Some("'self'".into());
    }
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let valid = !authority.is_empty()
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    valid.then(|| format!("{scheme}://{authority}"))
}

/// The domain a checkout script's frames and APIs live on: `https://checkout.razorpay.com` →
/// `https://*.razorpay.com https://razorpay.com`; an address or a single-label host (a local mock)
/// stands for itself.
fn provider_domain(origin: &str) -> Option<String> {
    let (scheme, authority) = origin.split_once("://")?;
    let host = authority.split(':').next().unwrap_or_default();
    let labels: Vec<&str> = host.split('.').collect();
    let is_address = host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[');
    if is_address || labels.len() < 2 {
        return Some(origin.to_string());
    }
    let domain = labels[labels.len() - 2..].join(".");
    Some(format!("{scheme}://*.{domain} {scheme}://{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_allowed_by_hash_and_nothing_else_is() {
        let html = "<html><head><style>b{}</style></head><body><form method=\"post\" action=\"https://secure.payu.in/_payment\"></form>\
                    <script>go();</script></body></html>";
        let csp = for_page(html);
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(
            csp.contains(&format!("script-src {}", hash("go();"))),
            "{csp}"
        );
        assert!(csp.contains(&format!("style-src {}", hash("b{}"))), "{csp}");
        assert!(
            csp.contains("form-action 'self' https://secure.payu.in https:"),
            "{csp}"
        );
        assert!(!csp.contains("frame-src"));
    }

    #[test]
    fn a_checkout_script_brings_its_domain() {
        let html = "<script src=\"https://checkout.razorpay.com/v1/checkout.js\"></script><script>x()</script>";
        let csp = for_page(html);
        assert!(
            csp.contains("script-src https://checkout.razorpay.com 'sha256-"),
            "{csp}"
        );
        assert!(csp.contains("frame-src https://*.razorpay.com https://razorpay.com"));
        assert!(csp.contains("connect-src https://*.razorpay.com"));
        assert!(csp.contains("style-src 'unsafe-inline'"));
    }
}
