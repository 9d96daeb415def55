//! ARCHITECTURE.md stays true: its code map names every workspace crate and every top-level
//! module (`src/*.rs` and `src/*/`) of each, under the crate's own heading.

use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The workspace's crates: the root package and the members of `[workspace]`.
fn crates() -> Vec<(String, String)> {
    let manifest = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    let members = manifest
        .lines()
        .find_map(|l| l.strip_prefix("members = "))
        .expect("a members line");
    let mut crates = vec![("wfa".to_string(), ".".to_string())];
    for member in members.trim_matches(|c| c == '[' || c == ']').split(',') {
        let member = member.trim().trim_matches('"');
        crates.push((member.to_string(), member.to_string()));
    }
    crates
}

fn modules(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(dir.join("src"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| {
            let name = path.file_stem()?.to_str()?.to_string();
            let is_module = path.is_dir() || path.extension().is_some_and(|e| e == "rs");
            (is_module && name != "lib" && name != "main").then_some(name)
        })
        .collect();
    found.sort();
    found
}

#[test]
fn the_code_map_names_every_crate_and_top_level_module() {
    let map = std::fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).unwrap();
    let mut missing = Vec::new();
    for (name, dir) in crates() {
        let heading = format!("### `{name}`");
        let Some(start) = map.find(&heading) else {
            missing.push(format!("crate {name} (no heading {heading})"));
            continue;
        };
        let section = &map[start + heading.len()..];
        let section = &section[..section.find("\n### ").unwrap_or(section.len())];
        for module in modules(&Path::new(ROOT).join(dir)) {
            if !section.contains(&format!("`{module}`")) {
                missing.push(format!("{name}: module `{module}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map lacks: {missing:#?}"
    );
}
