//! Rules about the source itself that the compiler cannot hold: checked by reading the files.

use std::path::{Path, PathBuf};

/// The crates' non-test source: shared, functions and the CLI.
const SOURCE_DIRS: [&str; 3] = ["shared/src", "functions/src", "src"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The part of a file that is not test code. In this codebase a `#[cfg(test)]` line opens the
/// file's unit-test module, which runs to the end of the file; that layout is checked here, so a
/// test module followed by production code cannot hide the latter from the rules.
fn production_code(path: &Path, text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| l.trim() == "#[cfg(test)]") else {
        return text.to_string();
    };
    let opener = lines.get(start + 1).map(|l| l.trim()).unwrap_or_default();
    assert!(
        opener.starts_with("mod ") && opener.ends_with('{'),
        "{}: #[cfg(test)] must open the file's test module, found {opener:?}",
        path.display()
    );
    let close = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with('}'))
        .map(|i| start + 1 + i);
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    assert_eq!(
        close,
        last,
        "{}: the #[cfg(test)] module must end the file",
        path.display()
    );
    lines[..start].join("\n")
}

/// Every `.get(<digits>)` / `.try_get(<digits>)` (turbofish and line breaks allowed), with the
/// line it starts on.
fn positional_reads(code: &str) -> Vec<(usize, String)> {
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    for needle in [".get", ".try_get"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(needle).map(|i| from + i) {
            from = at + needle.len();
            let mut i = from;
            if code[i..].starts_with("::<") {
                // Skip the turbofish, nested generics included.
                let mut depth = 0;
                while i < bytes.len() {
                    match bytes[i] {
                        b'<' => depth += 1,
                        b'>' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            if bytes.get(i) != Some(&b'(') {
                continue;
            }
            i += 1;
            while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
                i += 1;
            }
            let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                continue;
            }
            i += digits;
            // rustfmt leaves a trailing comma when it breaks the call over lines.
            while bytes
                .get(i)
                .is_some_and(|b| b.is_ascii_whitespace() || *b == b',')
            {
                i += 1;
            }
            if bytes.get(i) == Some(&b')') {
                let line = code[..at].matches('\n').count() + 1;
                let call = code[at..=i].split_whitespace().collect::<Vec<_>>().join("");
                found.push((line, call));
            }
        }
    }
    found
}

#[test]
fn the_scanner_finds_positional_reads_in_every_spelling() {
    let code = "let a: i64 = row.get(0);\nlet b = row.get::<_, Option<Vec<u8>>>(12);\n\
                let c = row\n    .try_get(\n        3,\n    )?;\nlet d = row.get(\"id\");\n\
                let e = map.get(&k);\nlet f = record.get::<i64>(\"amount\")?;";
    let calls: Vec<String> = positional_reads(code).into_iter().map(|(_, c)| c).collect();
    assert_eq!(
        calls,
        [".get(0)", ".get::<_,Option<Vec<u8>>>(12)", ".try_get(3,)"]
    );
}

/// Rows are read by column name through `shared::db::record::Record`: a positional read is
/// coupled to the order of a SELECT list and panics (aborting the process in release builds) on
/// a type it did not expect.
#[test]
fn no_row_is_read_by_column_position() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in SOURCE_DIRS {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "found only {} source files", files.len());
    let mut offences = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (line, call) in positional_reads(&production_code(file, &text)) {
            let name = file.strip_prefix(root).unwrap_or(file).display();
            offences.push(format!("{name}:{line}: {call}"));
        }
    }
    assert!(
        offences.is_empty(),
        "read these by column name with shared::db::record::Record \
         (a list or slice: use .first() or an iterator):\n{}",
        offences.join("\n")
    );
}
