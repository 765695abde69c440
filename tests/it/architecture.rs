//! The dependency rule of docs/architecture.md, checked on the source: each module's
//! `crate::…` paths outside its tests name only the modules the rule allows it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Below the transports: what the lower layers may import.
const BELOW: &[&str] = &[
    "domain", "ca", "auth", "persist", "service", "journal", "clock", "hex",
];

/// What each module may import (besides itself); the rule's table.
fn allowed(module: &str) -> Option<Vec<&'static str>> {
    let list: &[&str] = match module {
        "domain" | "clock" | "hex" => &[],
        "ca" | "auth" => &["domain", "clock", "hex"],
        "persist" => &["domain", "ca"],
        "journal" => &["clock", "domain"],
        "service" => &["domain", "ca", "auth", "persist", "clock", "hex"],
        "app" => &[
            "service", "domain", "ca", "auth", "journal", "clock", "hex", "config",
        ],
        // The transports: the app and everything below it, never each other.
        "api" | "mqtt" => return Some(BELOW.iter().copied().chain(["app"]).collect()),
        "config" => &["app", "auth", "ca", "service", "domain", "mqtt"],
        "server" => &["config"],
        _ => return None, // mock/, lib.rs, main.rs, healthcheck.rs: may use anything
    };
    Some(list.to_vec())
}

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

/// The file's code without its tests: test files are left out, and an inline
/// `#[cfg(test)] mod … {` ends what is read.
fn code_outside_tests(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    if name.ends_with("tests.rs") || name.ends_with("_fuzz.rs") {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let mut code = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let next = lines.peek().map_or("", |l| l.trim());
        if line.trim() == "#[cfg(test)]" && next.starts_with("mod ") && next.ends_with('{') {
            break;
        }
        if !line.trim_start().starts_with("//") {
            code.push(line);
        }
    }
    Some(code.join("\n"))
}

#[test]
fn every_module_imports_only_what_the_rule_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut broken = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for path in files {
        let relative = path.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = Path::new(first).file_stem().unwrap().to_str().unwrap();
        let (Some(allowed), Some(code)) = (allowed(module), code_outside_tests(&path)) else {
            continue;
        };
        for (i, _) in code.match_indices("crate::") {
            let used: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            seen.insert((module.to_string(), used.clone()));
            if used != module && !allowed.contains(&used.as_str()) {
                broken.insert(format!("{} uses crate::{used}", relative.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "against the dependency rule: {broken:#?}"
    );
    // The check reads what it should: the transports do use the app.
    assert!(seen.contains(&("mqtt".to_string(), "app".to_string())));
    assert!(seen.contains(&("api".to_string(), "app".to_string())));
}
