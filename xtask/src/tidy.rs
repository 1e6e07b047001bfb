//! Repository rules, checked as tests (run with the rest by `cargo xtask test`): no crate's
//! modules import each other in a circle, every Markdown file the code and docs cite is in the
//! repository, and every source file says what it owns and stays small.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::root;

/// Markdown files that tools write (under `target/`), which the code names but the repository
/// does not keep.
const GENERATED: [&str; 1] = ["report.md"];

/// Module pairs allowed to import each other, each with why. Durability's checkpoint reader
/// parses its entries with the log's frame parser (one parser for every file kind), and the log,
/// when recovery begins a new generation, sets aside the checkpoints the new generation would
/// not accept; untangling it means moving the frame parser and its constants out of `wal/`.
const KNOWN_CIRCLES: [(&str, &str, &str); 1] = [("durability", "checkpoint", "wal")];

/// Largest source file, in bytes: a file should read in one sitting.
const SOURCE_BYTES_MAX: u64 = 40_000;

/// Every file under `dir` whose name ends with `suffix`, skipping build output and VCS data.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(
                    name.as_str(),
                    "target" | ".git" | "fixtures" | "node_modules"
                ) {
                    pending.push(path);
                }
            } else if name.ends_with(suffix) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The top-level modules of a crate's `src` and, for each, the other top-level modules its
/// code names as `crate::<module>` (comments aside).
pub fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files(src, ".rs") {
        let relative = file.strip_prefix(src).unwrap_or(&file);
        let first = relative
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let uses = graph.entry(module.clone()).or_default();
        for line in read(&file).lines() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let mut rest = code;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                    .collect();
                if !name.is_empty() && name != module {
                    uses.insert(name);
                }
            }
        }
    }
    // Names that are not modules (items re-exported at the crate root) are not edges.
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for uses in graph.values_mut() {
        uses.retain(|name| modules.contains(name));
    }
    graph
}

/// A cycle in `graph`, if it has one, as the modules around it.
pub fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_modules_that_import_each_other_in_a_circle() {
    let crates = root().join("crates");
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates).expect("crates/").flatten() {
        let src = entry.path().join("src");
        if !src.is_dir() {
            continue;
        }
        let mut graph = module_graph(&src);
        let name = entry.file_name().to_string_lossy().into_owned();
        for (krate, a, b) in KNOWN_CIRCLES {
            if krate == name {
                graph.get_mut(b).map(|uses| uses.remove(a));
            }
        }
        if entry.file_name() == "engine" {
            // The engine's graph is the one its architecture document describes; print it so
            // that `cargo xtask test` output (or --nocapture) shows it.
            for (module, uses) in &graph {
                let uses: Vec<&str> = uses.iter().map(String::as_str).collect();
                println!("engine::{module} -> {}", uses.join(", "));
            }
        }
        if let Some(cycle) = find_cycle(&graph) {
            panic!(
                "{}: modules import each other in a circle: {}",
                entry.path().display(),
                cycle.join(" -> ")
            );
        }
        checked += 1;
    }
    assert!(checked >= 6, "found only {checked} crates with a src/");
}

#[test]
fn a_cycle_is_found_and_named() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(
        find_cycle(&graph).map(|c| c.join(" -> ")),
        Some("a -> b -> c -> a".to_owned())
    );
}

#[test]
fn every_cited_markdown_file_is_in_the_repository() {
    let root = root();
    let present: BTreeSet<String> = files(&root, ".md")
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let mut missing = Vec::new();
    let sources = [".rs", ".md", ".toml", ".yml", ".py", ".sh"]
        .iter()
        .flat_map(|suffix| files(&root, suffix));
    for file in sources {
        // This file names what it looks for.
        if file.ends_with("xtask/src/tidy.rs") {
            continue;
        }
        let text = read(&file);
        for (number, line) in text.lines().enumerate() {
            if line.contains("../shared") {
                missing.push(format!("{}:{}: ../shared", file.display(), number + 1));
            }
            for cited in cited_markdown(line) {
                if !present.contains(&cited) && !GENERATED.contains(&cited.as_str()) {
                    missing.push(format!("{}:{}: {cited}", file.display(), number + 1));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "files cited that the repository does not have (bring what is needed into docs/):\n{}",
        missing.join("\n")
    );
}

/// The `NAME.md` file names a line cites.
fn cited_markdown(line: &str) -> Vec<String> {
    let mut cited = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find(".md") {
        let before = &rest[..at];
        let name: String = before
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let after = rest[at + 3..].chars().next();
        if !name.is_empty() && !after.is_some_and(|c| c.is_ascii_alphanumeric()) {
            cited.push(format!("{name}.md"));
        }
        rest = &rest[at + 3..];
    }
    cited
}

#[test]
fn source_files_say_what_they_own_and_stay_small() {
    let root = root();
    let mut problems = Vec::new();
    for dir in ["crates", "xtask", "benches"] {
        for file in files(&root.join(dir), ".rs") {
            let size = std::fs::metadata(&file).map_or(0, |m| m.len());
            if size > SOURCE_BYTES_MAX {
                problems.push(format!(
                    "{} is {size} bytes (keep files under {SOURCE_BYTES_MAX})",
                    file.display()
                ));
            }
            // A module's own tests (`tests.rs` beside it) belong to that module's docs.
            if file.file_name().is_some_and(|n| n == "tests.rs") {
                continue;
            }
            let text = read(&file);
            let first = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with("#!["));
            if !first.is_some_and(|l| l.starts_with("//!")) {
                problems.push(format!(
                    "{} does not open with a //! line saying what it owns",
                    file.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn python_files_open_with_a_docstring_and_stay_small() {
    let root = root();
    let mut problems = Vec::new();
    let mut checked = 0;
    for suffix in [".py", ".pyi"] {
        for file in files(&root.join("crates"), suffix) {
            checked += 1;
            let size = std::fs::metadata(&file).map_or(0, |m| m.len());
            if size > SOURCE_BYTES_MAX {
                problems.push(format!(
                    "{} is {size} bytes (keep files under {SOURCE_BYTES_MAX})",
                    file.display()
                ));
            }
            let text = read(&file);
            let first = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'));
            if !first.is_some_and(|l| l.starts_with("\"\"\"")) {
                problems.push(format!(
                    "{} does not open with a docstring saying what it owns",
                    file.display()
                ));
            }
        }
    }
    assert!(checked > 0, "found no Python file under crates/");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
