//! Holds the README's configuration tables to the code that reads the environment: every
//! variable read is documented, and every documented variable is read.
//!
//! Two sources of "read": the configuration reader ([`Config::from_lookup`], asked with a lookup
//! that records each name) and the runner's own reads outside it (`HOST`, `PORT`, `LSP_*`, log
//! settings), found in the source as `var("NAME")`, `var_os("NAME")` or `.get("NAME")` on the
//! map of variables.

#[cfg(test)]
mod tests {
    use shared::config::{Config, gateway_url_variable, lookup_from};
    use shared::gateways::Provider;
    use shared::mode::Mode;
    use std::cell::RefCell;
    use std::collections::{BTreeMap, BTreeSet};

    /// Variables read by libraries rather than by a literal in our code.
    const READ_BY_LIBRARIES: &[&str] = &[
        // tracing-subscriber's `EnvFilter::try_from_default_env`.
        "RUST_LOG",
    ];

    /// Variables our code reads that are the system's, not the platform's settings.
    const SYSTEM: &[&str] = &["PATH"];

    /// Every name the configuration reader asks for, given an environment that reaches every branch
    /// (the AWS backend, WhatsApp configured, loopback webhooks allowed).
    fn names_the_reader_asks_for() -> BTreeSet<String> {
        let asked = RefCell::new(BTreeSet::new());
        let environment: BTreeMap<String, String> = [
            ("DATABASE_URL", "postgres://lsp_app@127.0.0.1/db"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            (
                "ENCRYPTION_KEYS",
                "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ),
            ("DATABASE_TLS", "verify"),
            ("JOB_BACKEND", "aws"),
            ("SQS_QUEUE_PREFIX", "lsp-"),
            ("EVENT_BUS_NAME", "lsp"),
            ("WHATSAPP_PHONE_NUMBER_ID", "1234567890"),
            ("WEBHOOKS_ALLOW_LOOPBACK", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let lookup = lookup_from(environment);
        let recording = |name: &str| {
            asked.borrow_mut().insert(name.to_string());
            lookup(name)
        };
        if let Err(e) = Config::from_lookup(recording) {
            panic!("the full environment is valid: {e}");
        }
        let _ = shared::config::migration_settings(|name| {
            asked.borrow_mut().insert(name.to_string());
            None
        });
        asked.into_inner()
    }

    /// Upper-case names in `var("…")`, `var_os("…")`, `.get("…")` and `contains_key("…")` calls of the code outside its tests.
    fn names_read_in(source: &str) -> BTreeSet<String> {
        let code = source.split("#[cfg(test)]").next().unwrap_or(source);
        let mut names = BTreeSet::new();
        for call in ["var(\"", "var_os(\"", ".get(\"", "contains_key(\""] {
            for (at, _) in code.match_indices(call) {
                let rest = &code[at + call.len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if !name.is_empty() && rest[name.len()..].starts_with('"') {
                    names.insert(name);
                }
            }
        }
        names
    }

    /// Every variable the platform reads.
    fn names_read() -> BTreeSet<String> {
        let sources = [
            include_str!("dev.rs"),
            include_str!("listen.rs"),
            include_str!("local_db.rs"),
            include_str!("main.rs"),
            include_str!("runner.rs"),
            include_str!("../shared/src/telemetry.rs"),
            include_str!("../functions/src/lambda.rs"),
        ];
        let mut names = names_the_reader_asks_for();
        for source in sources {
            names.extend(names_read_in(source));
        }
        names.extend(READ_BY_LIBRARIES.iter().map(|n| n.to_string()));
        names.retain(|n| !SYSTEM.contains(&n.as_str()));
        names
    }

    /// The variables named in the first column of the tables of the README's Configuration section;
    /// `GATEWAY_<PROVIDER>_<TEST\|LIVE>_URL` stands for one variable per provider and environment.
    fn names_documented(readme: &str) -> BTreeSet<String> {
        let start = readme
            .find("\n## Configuration\n")
            .expect("the README has a Configuration section");
        let section = &readme[start + 1..];
        let end = section[3..].find("\n## ").map_or(section.len(), |e| e + 3);
        let mut names = BTreeSet::new();
        for row in section[..end].lines().filter(|l| l.starts_with("| `")) {
            let first = row[1..].split(" | ").next().unwrap_or_default();
            for name in first.split('`').skip(1).step_by(2) {
                if name == "GATEWAY_<PROVIDER>_<TEST\\|LIVE>_URL" {
                    for provider in Provider::external() {
                        for mode in [Mode::Test, Mode::Live] {
                            names.insert(gateway_url_variable(provider, mode));
                        }
                    }
                } else {
                    names.insert(name.to_string());
                }
            }
        }
        names
    }

    #[test]
    fn the_readme_documents_exactly_the_variables_the_platform_reads() {
        let documented = names_documented(include_str!("../README.md"));
        let read = names_read();
        let undocumented: Vec<_> = read.difference(&documented).collect();
        let unread: Vec<_> = documented.difference(&read).collect();
        assert!(
            undocumented.is_empty(),
            "read but not in the README's Configuration tables: {undocumented:?}"
        );
        assert!(
            unread.is_empty(),
            "in the README's Configuration tables but read nowhere: {unread:?}"
        );
    }

    #[test]
    fn the_scan_finds_each_kind_of_read_and_skips_tests() {
        let source = r#"
            let a = std::env::var("ALPHA_ONE");
            let b = std::env::var_os("BETA");
            let c = vars.get("GAMMA_2").cloned();
            let d = std::env::var(name); // not a literal
            let e = map.get("not_a_variable");
            #[cfg(test)]
            mod tests { fn f() { std::env::var("ONLY_IN_TESTS"); } }
        "#;
        let names: Vec<_> = names_read_in(source).into_iter().collect();
        assert_eq!(names, ["ALPHA_ONE", "BETA", "GAMMA_2"]);
    }

    #[test]
    fn a_table_row_may_name_several_variables_and_the_gateway_pattern_expands() {
        let readme = "intro\n## Configuration\n\n| variable | meaning |\n|---|---|\n\
            | `A_ONE`, `A_TWO` | no (`x`) | two |\n\
            | `GATEWAY_<PROVIDER>_<TEST\\|LIVE>_URL` | no | hosts |\n\n## Next\n| `NOT_HERE` | x |\n";
        let names = names_documented(readme);
        assert!(names.contains("A_ONE") && names.contains("A_TWO"));
        assert!(names.contains("GATEWAY_RAZORPAY_LIVE_URL"));
        assert!(names.contains("GATEWAY_STRIPE_TEST_URL"));
        assert!(!names.contains("NOT_HERE") && !names.contains("x"));
    }
}
