//! The core's modules import each other one way (protocol at the bottom, server and adopt at the
//! top): no import circle inside `core/src`. Reads the sources, outside `#[cfg(test)]` blocks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level module a source file belongs to (`session/engine.rs` → `session`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// The modules a file's non-test code names as `crate::<module>` (`crate::Error`, `crate::Result`:
/// `error`, re-exported by lib.rs).
fn imports(text: &str) -> BTreeSet<String> {
    let code = non_test_code(text);
    let mut out = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (i, _) in line.match_indices("crate::") {
            let name: String = line[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            match name.as_str() {
                "Error" | "Result" => out.insert("error".to_owned()),
                n if n.chars().next().is_some_and(|c| c.is_ascii_lowercase()) => out.insert(n.to_owned()),
                _ => false,
            };
        }
    }
    out
}

/// The file up to its first inline `#[cfg(test)]` item; a `#[cfg(test)]` declaration of one line
/// (`mod tests;` in its own file) is dropped, so the code after it is still read.
fn non_test_code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            match lines.peek() {
                Some(next) if next.trim_end().ends_with(';') => {
                    lines.next();
                    continue;
                }
                _ => break,
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn core_modules_import_each_other_without_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    walk(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let module = module_of(&src, &file);
        if module == "lib" {
            continue;
        }
        let deps = imports(&std::fs::read_to_string(&file).unwrap());
        graph.entry(module.clone()).or_default().extend(deps.into_iter().filter(|d| *d != module));
    }
    // Depth-first search; a module met again on the current path closes a circle.
    fn visit(m: &str, g: &BTreeMap<String, BTreeSet<String>>, path: &mut Vec<String>, done: &mut BTreeSet<String>) {
        if done.contains(m) {
            return;
        }
        if let Some(at) = path.iter().position(|p| p == m) {
            panic!("import circle: {} -> {m}", path[at..].join(" -> "));
        }
        path.push(m.to_owned());
        for d in g.get(m).into_iter().flatten() {
            visit(d, g, path, done);
        }
        path.pop();
        done.insert(m.to_owned());
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut vec![], &mut done);
    }
    assert!(graph["protocol"].is_empty(), "the protocol layer imports nothing: {:?}", graph["protocol"]);
    assert!(!graph["session"].contains("server") && !graph["session"].contains("handler"));
}
