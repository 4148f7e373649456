//! The README's code blocks and the example files they must equal, word for word.

use std::path::Path;

/// The README's first ```` ```rust,no_run ```` block after `heading`.
pub fn readme_block(heading: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme.split(heading).nth(1).expect("the README has the section");
    let code = section.split("```rust,no_run\n").nth(1).expect("a Rust block");
    code.split("```").next().unwrap().to_owned()
}

/// An example's source, without its `//!` header.
pub fn example_source(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}.rs"));
    let source = std::fs::read_to_string(path).unwrap();
    source
        .lines()
        .skip_while(|line| line.starts_with("//!") || line.is_empty())
        .map(|line| format!("{line}\n"))
        .collect()
}
