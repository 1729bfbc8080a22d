//! No import cycle between the top-level modules of this crate (issue 19): a module uses
//! another when one of its files, outside comments and `#[cfg(test)]` blocks, names a
//! path into it (a `use`, a `pub use` re-export or a path in code), and that graph has
//! no cycle. The layering this keeps, lowest first: the base (`ids`, `keys`, `entity`,
//! `store`, `clock`, `error`, `validate`, `idempotency`), `plan` (the executor, which
//! names no domain), `grants`, then the domains, each using only those below it
//! (`audiences` below `outputs`, `connections`, `changes`; `changes` below `sharing`,
//! `access_requests`, `defaults`...). A file named `*tests.rs` or under a `tests/`
//! folder is test code and not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules of `src`: a `name.rs` file (not `lib.rs`) or a `name/`
/// folder, with their files.
fn modules(src: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(src).unwrap_or_else(|e| panic!("{}: {e}", src.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            let mut files = Vec::new();
            walk(&path, &mut files);
            out.insert(name.to_owned(), files);
        } else if let Some(stem) = name.strip_suffix(".rs")
            && name != "lib.rs"
        {
            out.insert(stem.to_owned(), vec![path.clone()]);
        }
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        if path.is_dir() {
            walk(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// `text` without its `#[cfg(test)]` items (a block up to its matching brace, or an
/// item up to its `;`) and without its comment lines.
fn without_tests(text: &str) -> String {
    const MARK: &str = "#[cfg(test)]";
    let mut s = text.to_owned();
    while let Some(i) = s.find(MARK) {
        let brace = s[i..].find('{').map(|j| i + j);
        let semi = s[i..].find(';').map(|j| i + j);
        let Some(open) = brace else { break };
        if let Some(k) = semi.filter(|k| *k < open) {
            s.replace_range(i..=k, "");
            continue;
        }
        let mut depth = 0usize;
        let mut end = s.len() - 1;
        for (p, c) in s[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + p;
                        break;
                    }
                }
                _ => {}
            }
        }
        s.replace_range(i..=end, "");
    }
    s.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names a line's paths start with after `crate::`: `crate::a::b` gives `a`,
/// `crate::{a, b::c}` gives every word of the group.
fn named(line: &str) -> Vec<String> {
    let prefix = concat!("crate", "::");
    let word = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (i, _) in line.match_indices(prefix) {
        let rest = &line[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or_default();
            out.extend(
                group
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .filter(|w| !w.is_empty())
                    .map(str::to_owned),
            );
        } else {
            let w = word(rest);
            if !w.is_empty() {
                out.push(w);
            }
        }
    }
    out
}

/// Who uses whom, with one example line per edge.
fn graph(src: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let mods = modules(src);
    let mut g: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (m, files) in &mods {
        for f in files {
            let shown = f.strip_prefix(src).unwrap_or(f).display().to_string();
            if shown.ends_with("tests.rs") || shown.contains("/tests/") {
                continue;
            }
            let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{shown}: {e}"));
            for line in without_tests(&text).lines() {
                for t in named(line) {
                    if &t != m && mods.contains_key(&t) {
                        g.entry(m.clone())
                            .or_default()
                            .entry(t)
                            .or_insert_with(|| format!("{shown}: {}", line.trim()));
                    }
                }
            }
        }
    }
    g
}

/// A cycle of `g`, as the modules along it, if there is one.
fn find_cycle(g: &BTreeMap<String, BTreeMap<String, String>>) -> Option<Vec<String>> {
    fn visit(
        v: &str,
        g: &BTreeMap<String, BTreeMap<String, String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == v) {
            let mut cycle = path[at..].to_vec();
            cycle.push(v.to_owned());
            return Some(cycle);
        }
        if done.contains(v) {
            return None;
        }
        path.push(v.to_owned());
        for w in g.get(v).into_iter().flat_map(BTreeMap::keys) {
            if let Some(c) = visit(w, g, done, path) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(v.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|v| visit(v, g, &mut done, &mut Vec::new()))
}

#[test]
fn no_import_cycle_between_the_top_level_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let g = graph(&src);
    assert!(
        g.contains_key("plan") && g.contains_key("changes"),
        "the graph was read: {g:?}"
    );
    if let Some(cycle) = find_cycle(&g) {
        let lines: Vec<String> = cycle
            .windows(2)
            .map(|w| format!("{} -> {} | {}", w[0], w[1], g[&w[0]][&w[1]]))
            .collect();
        panic!(
            "an import cycle between top-level modules; move the item that points the \
             wrong way (or name a lower module):\n{}",
            lines.join("\n")
        );
    }
}

/// Issue 19: a domain folder's `impl Core` methods (the routes' and workers' entry
/// points) are in its `service.rs` or the files under `service/`; its other files hold
/// the entities, the views and the pure planners with their table tests.
#[test]
fn a_domains_impl_core_is_in_its_service() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut outside = Vec::new();
    for (m, files) in modules(&src) {
        if !src.join(&m).is_dir() {
            continue;
        }
        for f in files {
            let shown = f.strip_prefix(&src).unwrap_or(&f).display().to_string();
            let in_service = shown.ends_with("/service.rs") || shown.contains("/service/");
            if in_service || shown.ends_with("tests.rs") || shown.contains("/tests/") {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{shown}: {e}"));
            if without_tests(&text)
                .lines()
                .any(|l| l.starts_with("impl Core"))
            {
                outside.push(shown);
            }
        }
    }
    assert!(
        outside.is_empty(),
        "`impl Core` outside a domain's service: {outside:?}"
    );
}

#[test]
fn a_cycle_is_found_and_test_code_is_not_counted() {
    let text = "use x;\n// use crate::b::C;\n#[cfg(test)]\nmod tests {\n    use \
                crate::c::D;\n}\nfn f() { crate::a::g(); }\nuse crate::{b::E, c};\n";
    let kept = without_tests(text);
    let names: Vec<String> = kept.lines().flat_map(named).collect();
    assert_eq!(names, ["a", "b", "E", "c"]);

    let edge = |a: &str, b: &str| {
        (
            a.to_owned(),
            BTreeMap::from([(b.to_owned(), String::new())]),
        )
    };
    let acyclic = BTreeMap::from([edge("a", "b"), edge("b", "c")]);
    assert_eq!(find_cycle(&acyclic), None);
    let cyclic = BTreeMap::from([edge("a", "b"), edge("b", "c"), edge("c", "a")]);
    assert_eq!(
        find_cycle(&cyclic),
        Some(vec![
            "a".to_owned(),
            "b".to_owned(),
            "c".to_owned(),
            "a".to_owned()
        ])
    );
}
