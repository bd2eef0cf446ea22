//! The crate's layers (DESIGN.md, "Layers"), bottom to top, and the test that keeps them:
//! a module uses only modules of its own layer or below, so a change at the bottom never
//! needs one at the top, and a newcomer can read the crate from the bottom up. When a low
//! module needs something from above, the thing moves down; the import never goes up.
//!
//! The test reads every `crate::…` path in every source file (`use` lines, grouped
//! `use crate::{…}` over several lines, and inline paths; comments skipped) and names the
//! file and line of each that reaches a layer above its own. `lib.rs` is exempt: its
//! crate-root re-exports are the public surface.

/// Module path (as in `crate::…`) → layer; the longest matching prefix decides.
const LAYERS: &[(&str, u8)] = &[
    // 1. utilities
    ("atomic_file", 1),
    ("backoff", 1),
    ("clock", 1),
    ("digest", 1),
    ("log_sink", 1),
    ("parallel", 1),
    ("pid", 1),
    ("random", 1),
    ("secrets", 1),
    ("sync", 1),
    ("workdir", 1),
    // The commands printed for the user (they name where the toolkit keeps its files).
    ("command", 1),
    // 2.
    ("transport", 2),
    // 3. client and models
    ("meshy", 3),
    // Test helpers: clients over the live transport.
    ("test_support", 3),
    // 4.
    ("cassette", 4),
    ("webhooks", 4),
    ("repository", 4),
    // 5.
    ("meshy::service", 5),
    ("webhooks::handler", 5),
    ("scenario", 5),
    ("sim", 5),
    ("receiver", 5),
    ("recorder", 5),
    ("progress", 5),
    ("tunnel", 5),
    // 6.
    ("check", 6),
    // 7.
    ("report", 7),
    ("migrate", 7),
    // 8.
    ("suite", 8),
    ("cli", 8),
    ("layers", 8),
];

/// The layer of a module path such as `meshy::service::TaskService` (`None`: not a module
/// of the crate, e.g. a crate-root re-export).
fn layer_of(path: &str) -> Option<u8> {
    LAYERS
        .iter()
        .filter(|(prefix, _)| {
            path == *prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with("::"))
        })
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, layer)| *layer)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use super::*;

    /// Every `.rs` file under `dir`, sorted.
    fn sources(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|x| x == "rs") {
                    files.push(path);
                }
            }
        }
        files.sort();
        files
    }

    /// `src/meshy/service.rs` → `meshy::service`; `src/meshy/mod.rs` → `meshy`.
    fn module_of(src: &Path, file: &Path) -> String {
        let relative = file.strip_prefix(src).unwrap().with_extension("");
        let parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .filter(|part| part != "mod")
            .collect();
        parts.join("::")
    }

    /// A line without its comment (a `//` not part of `://`).
    fn code(line: &str) -> &str {
        let bytes = line.as_bytes();
        let mut i = 0;
        while let Some(at) = line[i..].find("//") {
            let at = i + at;
            if at == 0 || bytes[at - 1] != b':' {
                return &line[..at];
            }
            i = at + 2;
        }
        line
    }

    /// The `crate::` paths of `text` with their line numbers: `crate::a::b::C` gives
    /// `a::b::C`; a group `crate::{a::X, b::{Y, Z}}` gives `a::X` and `b` (each member's
    /// module is what counts).
    fn crate_paths(text: &str) -> Vec<(usize, String)> {
        let lines: Vec<&str> = text.lines().map(code).collect();
        let joined = lines.join("\n");
        let line_at = |offset: usize| joined[..offset].matches('\n').count() + 1;
        let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let mut found = Vec::new();
        for (at, _) in joined.match_indices("crate::") {
            if joined[..at].ends_with('$') || joined[..at].ends_with(|c: char| ident(c)) {
                continue;
            }
            let rest = &joined[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // Members up to the matching brace, split at top-level commas.
                let mut depth = 1;
                let mut member = String::new();
                let mut members = Vec::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 1 => {
                            members.push(std::mem::take(&mut member));
                            continue;
                        }
                        _ => {}
                    }
                    if depth == 0 {
                        members.push(std::mem::take(&mut member));
                        break;
                    }
                    member.push(c);
                }
                for member in members {
                    let member = member.trim();
                    let path: String = member
                        .split(|c: char| c == '{' || c.is_whitespace())
                        .next()
                        .unwrap_or_default()
                        .trim_end_matches("::")
                        .to_owned();
                    if !path.is_empty() {
                        found.push((line_at(at), path));
                    }
                }
            } else {
                let path: String = rest.chars().take_while(|&c| ident(c) || c == ':').collect();
                found.push((line_at(at), path.trim_end_matches(':').to_owned()));
            }
        }
        found
    }

    /// Names a module's `mod.rs` re-exports from a submodule that has a layer of its own
    /// (`meshy::TaskService` is `meshy::service`'s): name → that submodule's path.
    fn reexports(src: &Path) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        for (module, _) in LAYERS.iter().filter(|(m, _)| m.contains("::")) {
            let (parent, child) = module.split_once("::").unwrap();
            let text = std::fs::read_to_string(src.join(parent).join("mod.rs")).unwrap();
            let needle = format!("pub use {child}::");
            for (at, _) in text.match_indices(&needle) {
                let rest = &text[at + needle.len()..];
                let names = match rest.strip_prefix('{') {
                    Some(group) => &group[..group.find('}').unwrap_or(group.len())],
                    None => &rest[..rest.find(';').unwrap_or(rest.len())],
                };
                for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    map.insert(format!("{parent}::{name}"), module.to_string());
                }
            }
        }
        map
    }

    /// The layer a path reaches, seen through re-exports.
    fn target_layer(path: &str, reexports: &BTreeMap<String, String>) -> Option<u8> {
        let two: Vec<&str> = path.splitn(3, "::").take(2).collect();
        match reexports.get(&two.join("::")) {
            Some(module) => layer_of(module),
            None => layer_of(path),
        }
    }

    #[test]
    fn no_module_reaches_a_layer_above_its_own() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let reexports = reexports(&src);
        let mut upward = Vec::new();
        for file in sources(&src) {
            let module = module_of(&src, &file);
            if module == "lib" || module == "main" {
                continue;
            }
            let own = layer_of(&module).unwrap_or_else(|| {
                panic!(
                    "{}: module '{module}' has no layer in src/layers.rs",
                    file.display()
                )
            });
            let text = std::fs::read_to_string(&file).unwrap();
            for (line, path) in crate_paths(&text) {
                if let Some(layer) = target_layer(&path, &reexports)
                    && layer > own
                {
                    upward.push(format!(
                        "{}:{line}: `crate::{path}` (layer {layer}) from `{module}` (layer {own})",
                        file.strip_prefix(&src).unwrap().display()
                    ));
                }
            }
        }
        assert!(
            upward.is_empty(),
            "{} paths point up a layer (DESIGN.md, \"Layers\"; move the thing down instead):\n{}",
            upward.len(),
            upward.join("\n")
        );
    }

    #[test]
    fn paths_are_read_from_use_lines_groups_and_code_but_not_comments() {
        let text = "use crate::a::B;\n// crate::skip::Me\nuse crate::{\n    c::D,\n    e::{F, G},\n};\nlet x = crate::h::i(\"http://x\"); // crate::no\npub(crate) fn f() {}\n$crate::m::N\n";
        assert_eq!(
            crate_paths(text),
            [
                (1, "a::B".to_owned()),
                (3, "c::D".to_owned()),
                (3, "e".to_owned()),
                (7, "h::i".to_owned())
            ]
        );
        assert_eq!(layer_of("meshy::service::TaskService"), Some(5));
        assert_eq!(layer_of("meshy::Client"), Some(3));
        assert_eq!(layer_of("meshyx"), None);
        assert_eq!(layer_of("Client"), None, "crate-root re-exports");
    }
}
